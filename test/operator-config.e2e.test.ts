import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunReport } from '../harness/report/run-report.ts';
import { ROOT, runLbdrill } from './run-lbdrill.ts';

/**
 * Issue 11's operator: seed 001's HAProxy role rendered with the operator's own names (be_api,
 * be_stream, cookie SERVERID) and no backup server. The profiles bind to it without --pool: each
 * profile pool is the backend whose server answers its probe path; the cookie is the config's own.
 */
const DIR = join(ROOT, 'fixtures', 'configs', 'operator');
const CONFIG = join(DIR, 'haproxy.cfg');
const STICKY_PROFILE = join(DIR, 'sticky-ws-without-source-affinity.yaml');
const FAST = ['--time-scale', '0.1'];

/**
 * The operator's config configures no passive ejection (no `observe layer7`, and `retry-on
 * all-retryable-errors` hands a 503 to the next server anyway): haproxy-role's should-check
 * health.passive-ejection fails on it, rightly, and stays a should (exit 0). Seed 001 asks for none.
 */
const SHOULD_FAIL = 'health.passive-ejection';

function notPassing(report: RunReport): string[] {
  return report.results.filter((r) => r.status !== 'pass' && r.check !== SHOULD_FAIL).map((r) => `${r.check}:${r.status}: ${r.observed}`);
}

function binding(report: RunReport, what: string): string | undefined {
  const b = report.targets[0]!.bindings.find((x) => x.what === what);
  return b && `${b.value} <- ${b.from}`;
}

describe("an operator's HAProxy config for seed 001's role: own names, own cookie, no backup", () => {
  it('passes haproxy-role, its pools found by traffic', async () => {
    const run = await runLbdrill(['run', '--profile', 'haproxy-role', '--target', `haproxy=${CONFIG}`, ...FAST]);
    expect(run.report, run.stderr).toBeDefined();
    expect(binding(run.report!, 'pool api_pool')).toBe('be_api <- traffic');
    expect(notPassing(run.report!)).toEqual([]);
    const passive = run.report!.results.find((r) => r.check === SHOULD_FAIL)!;
    expect(`${passive.severity} ${passive.status}`, passive.observed).toBe('should fail');
    expect(run.code).toBe(0);
  }, 170_000);

  it('passes sticky-ws without the source-affinity check (a profile file of its own), with its cookie SERVERID', async () => {
    const run = await runLbdrill(['run', '--profile', STICKY_PROFILE, '--target', `haproxy=${CONFIG}`, ...FAST]);
    expect(run.report, run.stderr).toBeDefined();
    expect(binding(run.report!, 'sticky cookie')).toBe('SERVERID (insert indirect) <- config');
    expect(run.report!.results.map((r) => r.check)).not.toContain('affinity.source-ip');
    expect(notPassing(run.report!)).toEqual([]);
    expect(run.code).toBe(0);
  }, 170_000);

  for (const file of readdirSync(join(DIR, 'broken'))) {
    const check = file.replace(/\.cfg$/, '');
    const profile = check.startsWith('sticky.') ? STICKY_PROFILE : 'haproxy-role';
    it(`without what ${check} checks, fails exactly that check`, async () => {
      const run = await runLbdrill(['run', '--profile', profile, '--target', `haproxy=${join(DIR, 'broken', file)}`, ...FAST]);
      expect(run.report, run.stderr).toBeDefined();
      expect(notPassing(run.report!).map((l) => l.split(':')[0])).toEqual([check]);
      expect(run.report!.results.find((r) => r.check === check)!.status).toBe('fail');
      expect(run.code).toBe(1);
    }, 170_000);
  }
});

describe('a config without a pool the profile names fails only the checks on that pool', () => {
  it('sticky-ws on a config with no WebSocket pool: the ws_pool checks fail with the reason, the rest run', async () => {
    // no-ws-route.cfg routes only /api/ and /stream/: /ws/ reaches no server, so no pool serves ws_pool's probe path.
    const run = await runLbdrill(['run', '--profile', 'sticky-ws', '--target', `haproxy=${join(ROOT, 'fixtures', 'configs', 'operator', 'no-ws-route.cfg')}`, '--only', 'sticky.cookie-inserted', '--only', 'ws.idle-survives', ...FAST]);
    expect(run.report, run.stderr).toBeDefined();
    const cell = (id: string) => run.report!.results.find((r) => r.check === id)!;
    expect(cell('sticky.cookie-inserted').status, cell('sticky.cookie-inserted').observed).toBe('pass');
    expect(cell('ws.idle-survives').status).toBe('fail');
    expect(cell('ws.idle-survives').observed).toMatch(/no pool for the profile's ws_pool: .*GET \/ws\/ping was answered 503 by the LB itself/);
    expect(run.code).toBe(1);
  }, 120_000);

  it('--only a check on the missing pool alone: nothing can run, exit 2 with the reason', async () => {
    const run = await runLbdrill(['run', '--profile', 'sticky-ws', '--target', `haproxy=${join(ROOT, 'fixtures', 'configs', 'operator', 'no-ws-route.cfg')}`, '--only', 'ws.idle-survives', ...FAST]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/nothing could run: haproxy: no pool for the profile's ws_pool/);
  }, 120_000);
});
