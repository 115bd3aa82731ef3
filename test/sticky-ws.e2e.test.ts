import { describe, expect, it } from 'vitest';
import { brokenConfigs, runLbdrill } from './run-lbdrill.ts';
import { expectReportHtmlWorks } from './report-html-browser.ts';

const FAST = ['--time-scale', '0.1'];

const broken = brokenConfigs('sticky-ws');

/** What each cell of the bundled matrix must say: the reader's trust rests on these. */
const EXPECTED: Record<string, Record<string, 'pass' | 'fail' | 'unsupported'>> = {
  haproxy: {},
  reference: {},
  nginx: {
    'sticky.cookie-inserted': 'unsupported',
    'sticky.dead-pin-rebalanced': 'unsupported',
    'sticky.ws-reconnect-after-failover': 'unsupported',
  },
  apache: {
    // Apache's route cookie reaches the backend: it has no "indirect"
    'sticky.cookie-inserted': 'fail',
    'sticky.ws-reconnect-after-failover': 'unsupported',
    'hash.uri-consistent': 'unsupported',
    'affinity.source-ip': 'unsupported',
  },
};

describe('profile sticky-ws, bundled configs on all four targets', () => {
  it('gives a matrix of pass, fail or unsupported with evidence for every cell', async () => {
    const run = await runLbdrill(['run', '--profile', 'sticky-ws', '--target', 'haproxy', '--target', 'reference', '--target', 'nginx', '--target', 'apache', ...FAST]);
    expect(run.report, run.stderr).toBeDefined();
    await expectReportHtmlWorks(run.reportDir, 'sticky-ws-four-targets');
    const cells = Object.fromEntries(run.report!.results.map((r) => [`${r.target} ${r.check}`, `${r.status}: ${r.observed}`]));
    for (const r of run.report!.results) {
      const want = EXPECTED[r.target]?.[r.check] ?? 'pass';
      expect(`${r.target} ${r.check} ${r.status}`, cells[`${r.target} ${r.check}`]).toBe(`${r.target} ${r.check} ${want}`);
      expect(r.observed.length).toBeGreaterThan(0);
    }
    expect(run.report!.results).toHaveLength(32);
  }, 200_000);
});

describe('lbdrill drill failover --profile sticky-ws', () => {
  it('cuts hundreds of WebSocket clients, reconnects and re-pins them, with their reconnect times', async () => {
    const run = await runLbdrill(['drill', 'failover', '--profile', 'sticky-ws', '--target', 'haproxy', ...FAST]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain('WebSocket clients cut');
    expect(run.stdout).toMatch(/reconnect p50 \/ p95 \/ max\s+│ \d/);
    const ws = run.report!.results.find((r) => r.check === 'sticky.ws-reconnect-after-failover')!;
    expect(ws.status, ws.observed).toBe('pass');
    expect(ws.evidence['cut'] as number).toBeGreaterThanOrEqual(50);
  }, 150_000);
});

/**
 * Configs that pin users by client address instead of the cookie, and every sticky check
 * each one must fail (the rest of the profile passes them: other pools). Before each simulated
 * user had its own address, both passed sticky.cookie-honoured: every client came from one.
 */
const ADDRESS_AFFINITY: Record<string, readonly string[]> = {
  // nginx cannot insert a cookie: the other cookie checks are unsupported there
  'sticky.cookie-honoured~ip-hash.conf': ['sticky.cookie-honoured', 'sticky.ws-same-backend'],
  'sticky.cookie-honoured~balance-source.cfg': ['sticky.cookie-inserted', 'sticky.cookie-honoured', 'sticky.ws-same-backend', 'sticky.dead-pin-rebalanced', 'sticky.ws-reconnect-after-failover'],
};

describe('configs pinning by client address instead of the cookie fail every cookie check they can run', () => {
  for (const { target, file, path } of broken.filter((b) => b.file in ADDRESS_AFFINITY)) {
    const checks = ADDRESS_AFFINITY[file]!;
    it(`${target}: ${file} fails ${checks.join(', ')}`, async () => {
      const run = await runLbdrill(['run', '--profile', 'sticky-ws', '--target', `${target}=${path}`, ...checks.flatMap((c) => ['--only', c]), ...FAST]);
      expect(run.report, run.stderr).toBeDefined();
      const observed = run.report!.results.map((r) => `${r.check} ${r.status}: ${r.observed}`).join('\n');
      expect(Object.fromEntries(run.report!.results.map((r) => [r.check, r.status])), observed).toEqual(Object.fromEntries(checks.map((c) => [c, 'fail'])));
      expect(run.code).toBe(1);
    }, 120_000);
  }
});

describe('configs broken for exactly one sticky-ws check fail it', () => {
  for (const { target, file, path, check } of broken.filter((b) => !(b.file in ADDRESS_AFFINITY))) {
    it(`${target}: ${file} fails ${check}`, async () => {
      const run = await runLbdrill(['run', '--profile', 'sticky-ws', '--target', `${target}=${path}`, '--only', check, ...FAST]);
      expect(run.report, run.stderr).toBeDefined();
      const result = run.report!.results.find((r) => r.check === check);
      expect(result?.status, JSON.stringify(result)).toBe('fail');
      expect(run.code).toBe(1);
    }, 120_000);
  }
});
