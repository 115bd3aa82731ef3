import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { brokenConfigs, declaredUnsupported, expectCells, ROOT, runLbdrill } from './run-lbdrill.ts';
import { expectReportHtmlWorks } from './report-html-browser.ts';

const PUBLISHED = join(ROOT, '..', 'shared', 'real-configs', 'sysmanage');

const broken = brokenConfigs('sysmanage');

/** Cells of the bundled configs that fail on a limit of the proxy, not of the config, and why. */
const FINDINGS: Record<string, Record<string, 'fail'>> = {
  apache: {
    // bybusyness balances on requests in flight; loadfactor 3:3:2 does not survive concurrency
    'balance.weights': 'fail',
    // failonstatus puts the member in error, but the 503 that tripped it reaches the client
    'retry.next-upstream': 'fail',
  },
};

describe('profile sysmanage (seed 004), bundled configs', () => {
  it('the reference LB, HAProxy and nginx pass every check; Apache shows what it cannot do', async () => {
    const run = await runLbdrill(['run', '--profile', 'sysmanage', '--target', 'reference', '--target', 'haproxy', '--target', 'nginx', '--target', 'apache']);
    expect(run.report, run.stderr).toBeDefined();
    await expectReportHtmlWorks(run.reportDir, 'sysmanage-four-targets');
    // Apache declares rate limiting unsupported: its two ratelimit cells say so
    expectCells(run.report!, FINDINGS);
    expect(run.report!.results).toHaveLength(32);
  }, 200_000);
});

describe('configs broken for exactly one sysmanage check fail it', () => {
  it('cover every cell that passes on the bundled configs', () => {
    const cells = new Set(broken.map((b) => `${b.target} ${b.check}`));
    const profile = parseYaml(readFileSync(join(ROOT, 'scenarios', 'profiles', 'sysmanage.yaml'), 'utf8')) as { checks: Array<{ id: string }> };
    const checks = profile.checks.map((c) => c.id);
    expect(checks).toHaveLength(8);
    const missing = ['reference', 'haproxy', 'nginx', 'apache'].flatMap((t) => checks.filter((c) => FINDINGS[t]?.[c] === undefined && !declaredUnsupported(t, c) && !cells.has(`${t} ${c}`)).map((c) => `${t} ${c}`));
    expect(missing).toEqual([]);
  });

  for (const { target, file, path, check } of broken) {
    it(`${target}: ${file} fails ${check}`, async () => {
      const run = await runLbdrill(['run', '--profile', 'sysmanage', '--target', `${target}=${path}`, '--only', check]);
      expect(run.report, run.stderr).toBeDefined();
      const result = run.report!.results.find((r) => r.check === check);
      expect(result?.status, JSON.stringify(result)).toBe('fail');
      expect(run.code).toBe(1);
    }, 120_000);
  }
});

describe('the published seed 004 files, as they are', () => {
  it('nginx.conf: nginx rejects it, lbdrill says so in nginx\'s words, exit 2', async () => {
    const run = await runLbdrill(['run', '--profile', 'sysmanage', '--target', `nginx=${join(PUBLISHED, 'nginx.conf')}`]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/"limit_req_zone" directive is not allowed here in .*nginx\.conf:\d+/);
  }, 60_000);

  it('haproxy.cfg: HAProxy rejects it, lbdrill says so in HAProxy\'s words, exit 2', async () => {
    const run = await runLbdrill(['run', '--profile', 'sysmanage', '--target', `haproxy=${join(PUBLISHED, 'haproxy.cfg')}`]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/hdr_val|websocket/);
  }, 60_000);
});
