import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { brokenConfigs, expectCells, ROOT, runLbdrill } from './run-lbdrill.ts';
import { expectReportHtmlWorks } from './report-html-browser.ts';

/** CI runs the seed's 5 s intervals ten times faster; budgets scale with them. */
const FAST = ['--time-scale', '0.1'];

const broken = brokenConfigs('haproxy-role');

function mustFailures(report: NonNullable<Awaited<ReturnType<typeof runLbdrill>>['report']>): string[] {
  return report.results.filter((r) => r.severity === 'must' && r.status !== 'pass' && r.status !== 'unsupported').map((r) => `${r.target}:${r.check}:${r.status}: ${r.observed}`);
}

describe('lbdrill drill failover (seed 001 smoke test)', () => {
  it('passes on HAProxy with the bundled config and writes the timeline', async () => {
    const run = await runLbdrill(['drill', 'failover', '--target', 'haproxy', ...FAST]);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stdout).toContain('PASS: the drill met every budget');
    const detect = run.report!.results.find((r) => r.check === 'failover.detect-within-budget')!;
    expect(detect.status).toBe('pass');
    // HAProxy's own DOWN report times the detection
    expect((detect.evidence['measurement'] as { detectSource: string }).detectSource).toBe('lb-event');
    const csv = readFileSync(join(run.reportDir, 'run', 'haproxy', 'failover-timeline.csv'), 'utf8').split('\n');
    expect(csv[0]).toBe('seq,sent_ms,latency_ms,backend,status,error');
    expect(csv.length).toBeGreaterThan(200);
    expect(existsSync(join(run.reportDir, 'run', 'haproxy', 'failover-timeline.json'))).toBe(true);
  }, 120_000);
});

describe('lbdrill drill failover on all four targets in one command', () => {
  it('shows the numbers side by side; nginx says it has only passive checks; report.html draws the four drills on one axis', async () => {
    const run = await runLbdrill(['drill', 'failover', '--target', 'haproxy', '--target', 'reference', '--target', 'nginx', '--target', 'apache', ...FAST]);
    expect(run.report, run.stderr).toBeDefined();
    const charts = await expectReportHtmlWorks(run.reportDir, 'drill-failover-four-targets');
    // one series per target on the latency chart, every backend of every target on the requests/s chart, one time axis for all
    expect(charts.find((c) => c.id === 'failover-latency')!.datasets.map((d) => d.label).sort()).toEqual(['apache', 'haproxy', 'nginx', 'reference']);
    expect([...new Set(charts.find((c) => c.id === 'failover-rps')!.datasets.map((d) => d.label.split(' · ')[0]))].sort()).toEqual(['apache', 'haproxy', 'nginx', 'reference']);
    expect(new Set(charts.filter((c) => c.id.startsWith('failover-')).map((c) => c.xTitle))).toEqual(new Set(['seconds since the fault']));
    expect(run.stdout).toMatch(/│\s+│ haproxy\s+│ reference\s+│ nginx\s+│ apache/);
    const cell = (target: string, check: string) => run.report!.results.find((r) => r.target === target && r.check === check)!;
    expect(cell('nginx', 'failover.detect-within-budget').status).toBe('unsupported');
    expect(cell('nginx', 'failover.detect-within-budget').observed).toContain('only passive health checks');
    for (const target of ['haproxy', 'reference']) {
      const detect = cell(target, 'failover.detect-within-budget');
      expect(detect.status, detect.observed).toBe('pass');
      expect((detect.evidence['measurement'] as { detectSource: string }).detectSource).toBe('lb-event');
    }
    expect(mustFailures(run.report!)).toEqual([]);
    expect(run.code).toBe(0);
  }, 200_000);
});

describe('profile haproxy-role, bundled configs (seed 001: no backup server)', () => {
  it('every target passes every check its config expresses, health.passive-ejection (should) included', async () => {
    const run = await runLbdrill(['run', '--profile', 'haproxy-role', '--target', 'haproxy', '--target', 'reference', '--target', 'nginx', '--target', 'apache', ...FAST]);
    expect(run.report, run.stderr).toBeDefined();
    await expectReportHtmlWorks(run.reportDir, 'haproxy-role-four-targets');
    // unsupported only where the target says why: nginx OSS has no active checks, slow start,
    // session shutdown or runtime API; Apache no slow start, session shutdown or runtime API
    expectCells(run.report!);
    expect(run.report!.results).toHaveLength(32);
    expect(run.code).toBe(0);
  }, 200_000);
});

describe('profile haproxy-role: configs broken for one check on every target', () => {
  for (const { target, file, path, check } of broken) {
    it(`${target}: ${file} fails ${check}`, async () => {
      // the bundled configs pass every check (above); a broken file is judged on its own check
      const run = await runLbdrill(['run', '--profile', 'haproxy-role', '--target', `${target}=${path}`, '--only', check, ...FAST]);
      expect(run.report, run.stderr).toBeDefined();
      const result = run.report!.results.find((r) => r.check === check);
      expect(result?.status, JSON.stringify(result)).toBe('fail');
      expect(run.code).toBe(result?.severity === 'must' ? 1 : 0);
    }, 150_000);
  }
});

describe('network-namespace mode', () => {
  it('partitions a backend host at the link on HAProxy and the reference LB, and leaves no namespace or route behind', async () => {
    const { TestHosts } = await import('../harness/netns/test-hosts.ts');
    // a machine without root, iptables or namespaces fails here with the reason, never skips
    expect(await TestHosts.available()).toEqual({ ok: true });
    const run = await runLbdrill(['run', join(ROOT, 'scenarios', 'api-partition.yaml'), '--network', 'netns']);
    expect(run.report, run.stderr).toBeDefined();
    expect(run.report!.results.map((r) => `${r.target}:${r.status}: ${r.observed}`)).toEqual([expect.stringMatching(/^haproxy:pass/), expect.stringMatching(/^reference:pass/)]);
    const { execFileSync } = await import('node:child_process');
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toMatch(/lbd-/);
    expect(execFileSync('ip', ['route', 'show', 'table', 'all'], { encoding: 'utf8' })).not.toMatch(/10\.251\./);
  }, 120_000);

  it('a link fault without --network netns: one line, exit 2', async () => {
    const run = await runLbdrill(['run', join(ROOT, 'scenarios', 'api-partition.yaml'), '--target', 'haproxy']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('injects link faults (link_down, partition): run with --network netns');
  }, 60_000);
});

describe('scenarios', () => {
  it('a scenario naming a backend the config does not have: one line, exit 2, nothing started', async () => {
    const file = join(ROOT, 'reports', `bad-backend-${process.pid}.yaml`);
    writeFileSync(
      file,
      ['name: bad', 'title: bad', 'profile: haproxy-role', 'duration: 5s', 'timeline:', '  - { at: 1s, fault: stop, backend: backend-api-9 }', 'assert:', '  - { metric: errors, max: 0 }', ''].join('\n'),
    );
    const run = await runLbdrill(['run', file, '--target', 'haproxy', ...FAST]);
    expect(run.code).toBe(2);
    // progress lines aside, the error is one line
    expect(run.stderr.trim().split('\n').filter((l) => l.startsWith('lbdrill:'))).toHaveLength(1);
    expect(run.stderr.trim().split('\n').at(-1)).toMatch(/^lbdrill: /);
    expect(run.stderr).toContain('timeline[0].backend: no backend "backend-api-9"');
    expect(run.stderr).toContain('backends: backend-api-1, backend-api-2, stream-srv-1, stream-srv-2');
  }, 60_000);

  it('a parameter out of range: one line naming the field, exit 2', async () => {
    const file = join(ROOT, 'reports', `bad-param-${process.pid}.yaml`);
    writeFileSync(file, ['name: bad', 'title: bad', 'profile: haproxy-role', 'duration: 5s', 'timeline:', '  - { at: 1s, fault: errors, backend: backend-api-1, attributes: { rate: 7 } }', 'assert:', '  - { metric: errors, max: 0 }', ''].join('\n'));
    const run = await runLbdrill(['run', file, '--target', 'haproxy']);
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/timeline\[0\]\.attributes: rate: /);
  }, 60_000);

  it('runs the bundled game-day scenario on HAProxy: slow network, then a kill and a restart, no client error after detection', async () => {
    const run = await runLbdrill(['run', join(ROOT, 'scenarios', 'api-slow-then-unhealthy.yaml'), '--target', 'haproxy']);
    const result = run.report?.results[0];
    expect(result?.status, JSON.stringify(result)).toBe('pass');
    expect(run.code).toBe(0);
    expect(existsSync(join(run.reportDir, 'run', 'haproxy', 'scenario-api-slow-then-unhealthy.csv'))).toBe(true);
  }, 120_000);
});
