import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ReportDiff } from '../harness/report/diff/diff-reports.ts';
import { ROOT, runLbdrill } from './run-lbdrill.ts';

/**
 * `lbdrill diff` on a config nobody on this project wrote: Shaken Fist's published nginx load
 * balancer (shared/real-configs, byte for byte), before and after a one-line edit. shared/ is beside
 * the clone in CI and in the main checkout, at /work/shared from a worktree.
 */
const PUBLISHED = [join(ROOT, '..', 'shared'), '/work/shared'].map((d) => join(d, 'real-configs', 'shakenfist', 'nginx-loadbalancer.conf')).find(existsSync) ?? join(ROOT, '..', 'shared', 'real-configs', 'shakenfist', 'nginx-loadbalancer.conf');
/** The /api contract's status checks: each is a verdict, not a measurement, so reruns agree. */
const ONLY = ['prefix.strip', 'prefix.docs-passthrough', 'prefix.bare-api', 'headers.forwarded-for', 'tls.redirect-https', 'scanner.php-dropped'].flatMap((c) => ['--only', c]);

const work = mkdtempSync(join(tmpdir(), 'lbdrill-diff-e2e-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The published config with one edit, written beside the others; fails the test if the edit did not apply. */
function edited(name: string, edit: (text: string) => string): string {
  const original = readFileSync(PUBLISHED, 'utf8');
  const text = edit(original);
  expect(text, `${name}: the edit changed nothing`).not.toBe(original);
  const file = join(work, name);
  writeFileSync(file, text);
  return file;
}

/** The CLI on two report dirs (no --report-dir: that is the one-command mode's). */
function diffDirs(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'lbdrill.mjs'), 'diff', ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function diffJson(reportDir: string): ReportDiff {
  return JSON.parse(readFileSync(join(reportDir, 'diff.json'), 'utf8')) as ReportDiff;
}

describe('lbdrill diff on Shaken Fist published nginx config', () => {
  it('flags a dropped trailing slash on proxy_pass (the /api prefix no longer stripped) as a must regression, exit 1', async () => {
    // "The trailing slash on proxy_pass is load-bearing" (the config's own comment, line 87)
    const broken = edited('no-trailing-slash.conf', (t) => t.replace('proxy_pass http://sfapi/;', 'proxy_pass http://sfapi;'));
    const run = await runLbdrill(['diff', '--profile', 'shakenfist-api', '--base', `nginx=${PUBLISHED}`, '--target', `nginx=${broken}`, ...ONLY]);
    expect(run.code, run.stderr).toBe(1);
    const diff = diffJson(run.reportDir);
    expect(diff.cells.filter((c) => c.kind === 'regression').map((c) => `${c.severity} ${c.target} ${c.check} ${c.base}->${c.new}`)).toContain('must nginx prefix.strip pass->fail');
    expect(diff.exitCode).toBe(1);
    expect(run.stdout.split('\n')[0]).toMatch(/^### ❌ lbdrill diff · shakenfist-api: \d+ must regressions?/);
    expect(run.stdout).toContain('| `prefix.strip` | nginx | **must** | ✅ pass → ❌ fail |');
    for (const f of ['base/report.json', 'new/report.json', 'diff.md', 'diff.json', 'diff.html']) expect(existsSync(join(run.reportDir, f)), f).toBe(true);
    expect(readFileSync(join(run.reportDir, 'diff.md'), 'utf8')).toBe(run.stdout);

    // the two kept runs diff the same way from their dirs, and --out writes the files there
    const out = join(work, 'out');
    const again = diffDirs([join(run.reportDir, 'base'), join(run.reportDir, 'new'), '--out', out]);
    expect(again.code, again.stderr).toBe(1);
    expect(again.stdout.split('\n')[0]).toBe(run.stdout.split('\n')[0]);
    expect(readFileSync(join(out, 'diff.html'), 'utf8')).toContain('<code>prefix.strip</code>');
  }, 170_000);

  it('calls a comment and two reordered directives no change, exit 0', async () => {
    const harmless = edited('harmless.conf', (t) =>
      t
        .replace('    proxy_read_timeout 3600s;\n    proxy_send_timeout 3600s;\n', '    proxy_send_timeout 3600s;\n    proxy_read_timeout 3600s;\n')
        .replace('upstream sfapi {\n', '# reviewed for the 2026-12 rollout\nupstream sfapi {\n'),
    );
    const run = await runLbdrill(['diff', '--profile', 'shakenfist-api', '--base', `nginx=${PUBLISHED}`, '--target', `nginx=${harmless}`, ...ONLY]);
    expect(run.code, run.stderr).toBe(0);
    const diff = diffJson(run.reportDir);
    expect(diff.cells).toEqual([]);
    expect(diff.counts.unchangedCells).toBe(ONLY.length / 2);
    expect(run.stdout.split('\n')[0]).toBe(`### ✅ lbdrill diff · shakenfist-api: no change (${ONLY.length / 2} cells unchanged, 0 measurements within tolerance)`);
  }, 170_000);
});

describe('lbdrill diff on a timing change', () => {
  it("shows HAProxy's rejoin after `rise 2` -> `rise 6` as a measurement beyond tolerance, not a regression (exit 0)", async () => {
    const bundled = join(ROOT, 'fixtures', 'configs', 'haproxy-role', 'haproxy.cfg');
    const slower = join(work, 'rise6.cfg');
    const text = readFileSync(bundled, 'utf8').replace('check inter 5s fall 3 rise 2 slowstart 30s on-marked-down shutdown-sessions observe', 'check inter 5s fall 3 rise 6 slowstart 30s on-marked-down shutdown-sessions observe');
    expect(text).toContain('rise 6');
    writeFileSync(slower, text);
    // four more 500 ms checks before the server is back: about +2 s, beyond ±(20% + one 500 ms interval); the budget is
    // widened so the verdict stays pass and only the measurement moves
    const run = await runLbdrill(['diff', '--profile', 'haproxy-role', '--base', `haproxy=${bundled}`, '--target', `haproxy=${slower}`, '--time-scale', '0.1', '--budget', 'rejoin=10s', '--only', 'failover.rejoin-within-budget']);
    expect(run.code, run.stderr).toBe(0);
    const diff = diffJson(run.reportDir);
    expect(diff.cells).toEqual([]);
    const rejoin = diff.measurements.find((m) => m.name === 'rejoin')!;
    expect(rejoin, JSON.stringify(diff.measurements)).toMatchObject({ target: 'haproxy', beyond: true });
    expect(rejoin.new - rejoin.base).toBeGreaterThan(1000);
    expect(run.stdout.split('\n')[0]).toBe('### ⚠️ lbdrill diff · haproxy-role: 1 measurement beyond tolerance (1 cell unchanged, 0 measurements within tolerance)');
  }, 170_000);
});

describe('lbdrill diff on bad input: one line, exit 2', () => {
  const dirOf = (name: string, report: object): string => {
    const dir = join(work, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'report.json'), JSON.stringify(report));
    return dir;
  };
  const report = (profile: string) => ({ tool: 'lbdrill', profile, mode: 'quick', seed: 1, exitCode: 0, startedAt: '2026-12-07T15:00:00.000Z', targets: [], results: [] });

  it.each([
    ['a missing report dir', () => [join(work, 'nope'), join(work, 'nope2')], (a: string[]) => `lbdrill: ${a[0]}: no such report directory`],
    ['a dir without report.json', () => [work, dirOf('p1', report('sysmanage'))], () => `lbdrill: ${join(work, 'report.json')}: missing (is ${work} a report directory of lbdrill run?)`],
    ['runs of different profiles', () => [dirOf('a', report('sysmanage')), dirOf('b', report('haproxy-role'))], (a: string[]) => `lbdrill: ${a[0]} is a run of profile sysmanage, ${a[1]} of haproxy-role: diff compares two runs of one profile`],
    ['one report dir only', () => [dirOf('c', report('sysmanage'))], () => 'lbdrill: give two report dirs (lbdrill diff BASE NEW), or --profile with --base and --target'],
    ['a run flag with two report dirs', () => [dirOf('d', report('sysmanage')), dirOf('e', report('sysmanage')), '--time-scale', '0.1'], () => 'lbdrill: BASE NEW compares two report dirs; --time-scale is for running them (--profile, --base, --target): give one or the other'],
    ['--base and --target on different targets', () => ['--profile', 'shakenfist-api', '--base', 'nginx', '--target', 'haproxy'], () => 'lbdrill: --base and --target must name the same targets: base nginx, new haproxy'],
  ])('%s', (_what, args, line) => {
    const a = args();
    const r = diffDirs(a);
    expect(r.stderr.trim()).toBe(line(a));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
  });
});
