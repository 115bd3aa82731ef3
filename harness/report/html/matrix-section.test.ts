import { describe, expect, it } from 'vitest';
import type { CheckResult } from '../../checks/check.ts';
import type { RunReport, TargetReport } from '../run-report.ts';
import { renderMatrixSection } from './matrix-section.ts';

function target(name: string): TargetReport {
  return { name, status: 'ran', binary: `${name}/1`, config: `/etc/${name}.conf`, bundled: true, rendered: `run/${name}/${name}.conf`, mapped: [], listeners: [], backends: [], bindings: [] };
}

function result(check: string, tgt: string, status: CheckResult['status'], severity: CheckResult['severity'] = 'must', observed = 'ok'): CheckResult {
  return { check, title: `${check} title`, target: tgt, status, severity, durationMs: 1500, expected: 'something', observed, evidence: { n: 1 } };
}

const report = {
  targets: [target('nginx'), target('haproxy')],
  results: [result('prefix.strip', 'nginx', 'pass'), result('prefix.strip', 'haproxy', 'fail', 'must', '<b>boom</b>'), result('headers.host-preserved', 'nginx', 'unsupported', 'should')],
} as unknown as RunReport;

describe('renderMatrixSection', () => {
  const page = renderMatrixSection(report, new Map([['haproxy', { configs: ['run/haproxy/haproxy.cfg'], logs: ['run/haproxy/process.log'] }]])).value;

  it('has one cell per check and target, with its status and severity, and marks a cell the run has no result for', () => {
    expect(page).toContain('data-check="prefix.strip" data-target="nginx" data-status="pass" data-severity="must"');
    expect(page).toContain('data-check="prefix.strip" data-target="haproxy" data-status="fail" data-severity="must"');
    expect(page).toContain('data-check="headers.host-preserved" data-target="nginx" data-status="unsupported" data-severity="should"');
    expect(page).toContain('data-check="headers.host-preserved" data-target="haproxy" data-status="none"');
  });

  it("opens each cell to expected, observed (escaped), duration, evidence and the target's files by relative links", () => {
    expect(page).toContain('&lt;b&gt;boom&lt;/b&gt;');
    expect(page).not.toContain('<b>boom</b>');
    expect(page).toContain('<dt>duration</dt><dd>1.5 s</dd>');
    expect(page).toContain('<a href="run/haproxy/haproxy.cfg">haproxy.cfg</a>');
    expect(page).toContain('<a href="run/haproxy/process.log">process.log</a>');
  });

  it('has a legend telling the five statuses apart, error as a harness or setup problem, and must from should', () => {
    for (const s of ['pass', 'fail', 'unsupported', 'error', 'skipped']) expect(page).toContain(`<span class="cell s-${s}">`);
    expect(page).toContain('harness or setup problem');
    expect(page).toMatch(/must<\/span> a fail or error fails the run/);
  });
});
