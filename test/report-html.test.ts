import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CheckResult } from '../harness/checks/check.ts';
import type { RunReport, TargetReport } from '../harness/report/run-report.ts';
import { expectReportHtmlWorks } from './report-html-browser.ts';
import { ROOT } from './run-lbdrill.ts';

/**
 * report.html of a report directory holding every kind of evidence the page charts, built by
 * hand (no LB started): rebuilt by `lbdrill report DIR`, then opened in headless Chromium.
 */
const dir = mkdtempSync(join(tmpdir(), 'lbdrill-report-html-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function target(name: string, status: TargetReport['status'] = 'ran'): TargetReport {
  return {
    name, status, binary: status === 'skipped' ? null : `${name}/1.0`, config: `/etc/${name}/${name}.conf`, bundled: true, rendered: status === 'skipped' ? null : `run/${name}/${name}.conf`,
    ...(status === 'skipped' ? { reason: `not installed (apt-get install ${name}2)` } : {}),
    mapped: [{ kind: 'upstream', from: '10.0.0.1:13000', to: '127.0.11.1:13000', line: 33 }], listeners: [], backends: [],
    bindings: [{ what: 'pool api_pool', value: 'be_api (2 primaries)', from: 'config', file: `/etc/${name}/${name}.conf`, line: 40 }],
  };
}

function result(check: string, tgt: string, status: CheckResult['status'], evidence: Record<string, unknown> = {}): CheckResult {
  return { check, title: `${check} (title)`, target: tgt, status, severity: check.startsWith('headers') ? 'should' : 'must', durationMs: 1234, expected: 'the contract', observed: `${status} on ${tgt}`, evidence };
}

/** A drill timeline at 20 req/s: backend-1 stopped at `faultAtMs`, restarted 1 s later, back 200 ms after that; one 502 at the fault. */
function writeTimeline(name: string, faultAtMs: number): void {
  const samples = [];
  for (let t = 0; t < faultAtMs + 2500; t += 50) {
    const down = t >= faultAtMs && t < faultAtMs + 1200;
    samples.push({ seq: t / 50, sentAtMs: t, latencyMs: t === faultAtMs ? 800 : 3, backend: t === faultAtMs ? null : t % 100 === 0 && !down ? 'backend-1' : 'backend-2', status: t === faultAtMs ? 502 : 200, error: null });
  }
  const measurement = { victim: 'backend-1', resolutionMs: 50, requests: 40, clientErrors: 1, errorsByKind: { '502': 1 }, firstErrorMs: 0, lastErrorMs: 0, detectMs: 250, detectSource: 'lb-event', lbDownMs: 250, errorsAfterDetect: 0, rejoinMs: 200, lbUpMs: 150 };
  mkdirSync(join(dir, 'run', name), { recursive: true });
  writeFileSync(join(dir, 'run', name, 'failover-timeline.json'), JSON.stringify({ victim: 'backend-1', serverName: 'backend-1', resolutionMs: 50, faultAtMs, undoAtMs: faultAtMs + 1000, lbEvents: [], measurement, samples }));
  writeFileSync(join(dir, 'run', name, `${name}.conf`), 'server backend-1 127.0.11.1:13000\n');
  writeFileSync(join(dir, 'run', name, 'process.log'), 'started\n');
}

const drill = { measurement: {}, timeline: ['failover-timeline.json'] };
const targets = ['haproxy', 'nginx', 'reference'];
const report: RunReport = {
  tool: 'lbdrill', version: '0.1.0', profile: 'sticky-ws', mode: 'quick', seed: 1, startedAt: '2026-12-07T15:00:00.000Z', durationMs: 60_000, exitCode: 1,
  targets: [...targets.map((t) => target(t)), target('apache', 'skipped')],
  results: [
    ...targets.map((t) => result('failover.detect-within-budget', t, 'pass', drill)),
    ...targets.map((t, i) => result('sticky.ws-reconnect-after-failover', t, 'pass', { cut: 100, reconnectMs: { count: 100, p50Ms: 40 + i, p95Ms: 90, maxMs: 120 }, messages: { lost: 0 } })),
    ...targets.map((t) => result('hash.uri-consistent', t, 'pass', { nodes: 3, victim: 'backend-1', victimKeys: 70, movedShare: 0.34, idealShare: 0.333, survivorsMoved: 0 })),
    // each target names the servers its own way; the address as written is the same server
    ...targets.map((t) => result('balance.weights', t, 'fail', { rows: [{ backend: `${t}-1`, address: '10.0.0.1:80', want: 0.75, share: 0.7 }, { backend: `${t}-2`, address: '10.0.0.2:80', want: 0.25, share: 0.3 }] })),
    ...targets.map((t) => result('stream.upload-large', t, 'pass', { sizeBytes: 268435456, seconds: 2, mibPerSec: 128 })),
    ...targets.map((t) => result('stream.download-large', t, 'pass', { sizeBytes: 268435456, seconds: 1, mibPerSec: 256 })),
    result('headers.host-preserved', 'haproxy', 'error', { why: '</script><script>alert(1)</script>' }),
    ...['failover.detect-within-budget', 'headers.host-preserved'].map((c) => result(c, 'apache', 'skipped')),
  ],
};

describe('report.html in a browser', () => {
  it('lbdrill report DIR writes it; every cell, every chart drawn with data, the drills on one axis; the matrix without JavaScript', async () => {
    writeTimeline('haproxy', 1000);
    writeTimeline('nginx', 3000);
    // reference: its drill's timeline file is missing; the page says so and draws the others
    writeFileSync(join(dir, 'report.json'), JSON.stringify(report));
    const cli = spawnSync(process.execPath, [join(ROOT, 'bin', 'lbdrill.mjs'), 'report', dir], { encoding: 'utf8' });
    expect(cli.status, cli.stderr).toBe(0);
    const page = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(page).toContain('reference: run/reference/failover-timeline.json could not be read (ENOENT)');
    expect(page).not.toMatch(/<script[^>]+src=|<link[^>]+href="http/);
    // bindings and mappings of every target that ran; why apache did not
    expect(page.match(/<td>pool api_pool<\/td><td>be_api \(2 primaries\)<\/td><td><code>\/etc\/\w+\/\w+\.conf:40<\/code><\/td>/g)).toHaveLength(3);
    expect(page.match(/<td>upstream<\/td><td><code>10\.0\.0\.1:13000<\/code><\/td><td><code>127\.0\.11\.1:13000<\/code><\/td><td>line 33<\/td>/g)).toHaveLength(3);
    expect(page).toContain('skipped: not installed (apt-get install apache2)');

    const charts = await expectReportHtmlWorks(dir, 'report-html-synthetic');
    expect(charts.map((c) => c.id).sort()).toEqual(['blob-throughput', 'failover-errors', 'failover-latency', 'failover-rps', 'hash-displacement', 'weight-shares', 'ws-reconnect']);
    const latency = charts.find((c) => c.id === 'failover-latency')!;
    expect(latency.datasets.map((d) => d.label)).toEqual(['haproxy', 'nginx']);
    expect(charts.filter((c) => c.id.startsWith('failover-')).map((c) => c.xTitle)).toEqual(['seconds since the fault', 'seconds since the fault', 'seconds since the fault']);
    expect(charts.find((c) => c.id === 'weight-shares')!.datasets.map((d) => `${d.label} ${d.points}`)).toEqual(['contract (weights) 2', 'haproxy 2', 'nginx 2', 'reference 2']);
  }, 60_000);

  it('lbdrill report on a directory without report.json: one line, exit 2', () => {
    const cli = spawnSync(process.execPath, [join(ROOT, 'bin', 'lbdrill.mjs'), 'report', join(dir, 'run')], { encoding: 'utf8' });
    expect(cli.status).toBe(2);
    expect(cli.stderr).toBe(`lbdrill: ${join(dir, 'run', 'report.json')} cannot be read (ENOENT): is ${join(dir, 'run')} a report directory?\n`);
  });
});
