import { describe, expect, it } from 'vitest';
import { brokenConfigs, runLbdrill } from './run-lbdrill.ts';
import { expectReportHtmlWorks } from './report-html-browser.ts';

const broken = brokenConfigs('path-and-auth');

describe('profile path-and-auth (seed 003), bundled configs', () => {
  it('passes every check on all four targets', async () => {
    const run = await runLbdrill(['run', '--profile', 'path-and-auth', '--target', 'reference', '--target', 'haproxy', '--target', 'nginx', '--target', 'apache']);
    expect(run.report, run.stderr).toBeDefined();
    await expectReportHtmlWorks(run.reportDir, 'path-and-auth-four-targets');
    expect(run.report!.results.filter((r) => r.status !== 'pass').map((r) => `${r.target} ${r.check}: ${r.observed}`)).toEqual([]);
    expect(run.report!.results).toHaveLength(12);
    expect(run.code).toBe(0);
  }, 150_000);
});

describe('configs broken for exactly one path-and-auth check fail it', () => {
  for (const { target, file, path, check } of broken) {
    it(`${target}: ${file} fails ${check}`, async () => {
      const run = await runLbdrill(['run', '--profile', 'path-and-auth', '--target', `${target}=${path}`]);
      expect(run.report, run.stderr).toBeDefined();
      expect(run.report!.results.find((r) => r.check === check)?.status).toBe('fail');
      // and only that check
      expect(run.report!.results.filter((r) => r.check !== check && r.status !== 'pass').map((r) => `${r.check}: ${r.observed}`)).toEqual([]);
      expect(run.code).toBe(1);
    }, 60_000);
  }
});

describe('a config without one of the profile pools (deluxe)', () => {
  it('auth.basic-required is judged with a user whose pool the config has; route.auth-group-map fails naming the missing pool', async () => {
    const run = await runLbdrill(['run', '--profile', 'path-and-auth', '--target', 'haproxy=fixtures/configs/path-and-auth/partial/haproxy-without-deluxe.cfg', '--only', 'auth.basic-required', '--only', 'route.auth-group-map']);
    expect(run.report, run.stderr).toBeDefined();
    const result = (check: string) => run.report!.results.find((r) => r.check === check);
    expect(result('auth.basic-required')?.status, result('auth.basic-required')?.observed).toBe('pass');
    expect(result('auth.basic-required')?.observed).toMatch(/john with the right password: 200/);
    expect(result('route.auth-group-map')?.status).toBe('fail');
    expect(result('route.auth-group-map')?.observed).toMatch(/deluxe/);
    expect(run.code).toBe(1);
  }, 60_000);
});
