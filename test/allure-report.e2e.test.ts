import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../harness/report/run-report.ts';
import { ROOT, runLbdrill } from './run-lbdrill.ts';

/** What `allure generate` writes per test case (data/test-cases/<uid>.json), as far as these tests read it. */
interface SiteTestCase {
  fullName: string;
  status: string;
  statusMessage?: string;
  labels: Array<{ name: string; value: string }>;
  testStage: { attachments: Array<{ name: string; source: string }> };
  extra?: { history?: { items: unknown[] } };
}

const ALLURE_STATUS = { pass: 'passed', fail: 'failed', error: 'broken', unsupported: 'skipped', skipped: 'skipped' } as const;

const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The CLI as a user runs it, for commands that take no --report-dir. */
function lbdrill(args: string[], env: NodeJS.ProcessEnv = process.env): { run: Promise<{ code: number | null; stdout: string; stderr: string }>; pid: number } {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'lbdrill.mjs'), ...args], { cwd: ROOT, env: { ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const run = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code: code ?? (signal ? 128 : null), stdout, stderr });
    }),
  );
  return { run, pid: child.pid! };
}

/** Processes (the allure JVM) whose command line names `dir`. */
function leftovers(dir: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', dir], { encoding: 'utf8' }).split('\n').filter((l) => l.trim() && !l.includes('pgrep'));
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

function testCases(dir: string): SiteTestCase[] {
  const cases = join(dir, 'allure-report', 'data', 'test-cases');
  return readdirSync(cases).map((f) => JSON.parse(readFileSync(join(cases, f), 'utf8')) as SiteTestCase);
}

/** A copy of a report dir without its Allure site, as the next run of the profile would leave it. */
function copyOfRun(dir: string): string {
  const copy = mkdtempSync(join(tmpdir(), 'lbdrill-allure-copy-'));
  scratch.push(copy);
  cpSync(dir, copy, { recursive: true, filter: (src) => !src.startsWith(join(dir, 'allure-report')) });
  return copy;
}

describe('lbdrill report DIR --allure on a real run: the Allure site holds every result', () => {
  let reportDir = '';
  let report: RunReport;
  let stdout = '';

  beforeAll(async () => {
    // two targets, a failover check (timeline CSV), a check Apache cannot express (unsupported) and one
    // its config is broken for (fail)
    const brokenApache = join(ROOT, 'fixtures', 'configs', 'haproxy-role', 'broken', 'apache', 'retry.redispatch.conf');
    const run = await runLbdrill(['run', '--profile', 'haproxy-role', '--target', `apache=${brokenApache}`, '--target', 'reference', '--time-scale', '0.1', '--only', 'failover.detect-within-budget', '--only', 'failover.slowstart-ramp', '--only', 'retry.redispatch']);
    expect(run.report, run.stderr).toBeDefined();
    report = run.report!;
    reportDir = run.reportDir;
    const built = await lbdrill(['report', reportDir, '--allure']).run;
    expect(built.code, built.stderr).toBe(0);
    stdout = built.stdout;
  }, 170_000);

  it('says where the site is', () => {
    expect(stdout).toContain(`Allure site: ${join(reportDir, 'allure-report', 'index.html')}`);
    expect(existsSync(join(reportDir, 'allure-report', 'index.html'))).toBe(true);
    const summary = JSON.parse(readFileSync(join(reportDir, 'allure-report', 'widgets', 'summary.json'), 'utf8')) as { reportName: string };
    expect(summary.reportName).toBe('lbdrill haproxy-role');
  });

  it('has one test case per check × target, each with the status of its report.json cell', () => {
    expect(report.results).toHaveLength(6);
    expect(report.results.map((r) => r.status)).toEqual(expect.arrayContaining(['pass', 'fail', 'unsupported']));
    const cases = testCases(reportDir);
    expect(cases).toHaveLength(report.results.length);
    const summary = JSON.parse(readFileSync(join(reportDir, 'allure-report', 'widgets', 'summary.json'), 'utf8')) as { statistic: Record<string, number> };
    expect(summary.statistic.total).toBe(report.results.length);
    for (const r of report.results) {
      const found = cases.filter((c) => c.fullName === `lbdrill.${report.profile}.${r.target}.${r.check}`);
      expect(found, `${r.check} on ${r.target}`).toHaveLength(1);
      expect([r.target, r.check, found[0]!.status]).toEqual([r.target, r.check, ALLURE_STATUS[r.status]]);
      if (r.status === 'unsupported') expect(found[0]!.statusMessage).toBe(`unsupported: ${r.observed}`);
      if (r.status === 'fail') expect(found[0]!.statusMessage).toBe(`${r.severity}: expected ${r.expected}; observed ${r.observed}`);
      expect(found[0]!.labels).toContainEqual({ name: 'severity', value: r.severity === 'must' ? 'critical' : 'normal' });
    }
  });

  it('attaches evidence, logs and rendered config to every test, the timeline CSV to the failover check, and the site holds each file', () => {
    const attachments = join(reportDir, 'allure-report', 'data', 'attachments');
    for (const c of testCases(reportDir)) {
      const names = c.testStage.attachments.map((a) => a.name);
      expect(names, c.fullName).toContain('evidence');
      expect(names, c.fullName).toContain('log process.log');
      expect(names.some((n) => n.startsWith('rendered config ')), c.fullName).toBe(true);
      if (c.fullName.endsWith('failover.detect-within-budget')) expect(names, c.fullName).toContain('failover-timeline.csv');
      for (const a of c.testStage.attachments) expect(existsSync(join(attachments, a.source)), `${c.fullName}: ${a.name}`).toBe(true);
    }
    const csv = testCases(reportDir).find((c) => c.fullName === `lbdrill.${report.profile}.reference.failover.detect-within-budget`)!.testStage.attachments.find((a) => a.name === 'failover-timeline.csv')!;
    expect(readFileSync(join(attachments, csv.source), 'utf8')).toBe(readFileSync(join(reportDir, 'run', 'reference', 'failover-timeline.csv'), 'utf8'));
  });

  it('files a failed must-check under its own category', () => {
    const categories = JSON.parse(readFileSync(join(reportDir, 'allure-report', 'widgets', 'categories.json'), 'utf8')) as { items: Array<{ name: string; statistic: { total: number } }> };
    const mustFailed = report.results.filter((r) => r.severity === 'must' && r.status === 'fail').length;
    expect(mustFailed).toBeGreaterThan(0);
    expect(categories.items.find((c) => c.name === 'must-check failed (the run exits 1)')?.statistic.total).toBe(mustFailed);
  });

  it('shows the environment: lbdrill and proxy versions, seed, time scale', () => {
    const env = JSON.parse(readFileSync(join(reportDir, 'allure-report', 'widgets', 'environment.json'), 'utf8')) as Array<{ name: string; values: string[] }>;
    const value = (name: string): string[] | undefined => env.find((e) => e.name === name)?.values;
    expect(value('lbdrill')).toEqual([report.version]);
    expect(value('seed')).toEqual(['1']);
    expect(value('time scale')).toEqual(['0.1']);
    expect(value('apache')).toEqual([report.targets.find((t) => t.name === 'apache')!.binary]);
  });

  it('continues the history of an earlier run with --history-from: every cell has its earlier result, the trend two points', async () => {
    const next = copyOfRun(reportDir);
    const built = await lbdrill(['report', next, '--allure', '--history-from', reportDir]).run;
    expect(built.code, built.stderr).toBe(0);
    for (const c of testCases(next)) expect(c.extra?.history?.items, c.fullName).toHaveLength(1);
    const trend = JSON.parse(readFileSync(join(next, 'allure-report', 'widgets', 'history-trend.json'), 'utf8')) as unknown[];
    expect(trend).toHaveLength(2);
    expect(leftovers(next)).toEqual([]);
  }, 120_000);

  it('without Java: one line naming what to install, exit 2, no site', async () => {
    const next = copyOfRun(reportDir);
    const noJava = mkdtempSync(join(tmpdir(), 'lbdrill-nojava-'));
    scratch.push(noJava);
    const { JAVA_HOME: _, ...env } = process.env;
    const built = await lbdrill(['report', next, '--allure'], { ...env, PATH: noJava }).run;
    expect(built.code).toBe(2);
    expect(built.stderr.trim().split('\n')).toEqual(['lbdrill: the Allure site needs Java 8 or later and no java on PATH (apt-get install default-jre-headless)']);
    expect(existsSync(join(next, 'allure-report'))).toBe(false);
  });

  it('an emptied allure-results/ is written again from report.json before the site is built', async () => {
    const next = copyOfRun(reportDir);
    rmSync(join(next, 'allure-results'), { recursive: true });
    mkdirSync(join(next, 'allure-results'));
    const rebuilt = await lbdrill(['report', next, '--allure']).run;
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(testCases(next)).toHaveLength(report.results.length);
  }, 120_000);

  it('bad input: one line naming what is wrong, exit 2', async () => {
    const cases: Array<[string[], string]> = [
      [['report', join(reportDir, 'run'), '--allure'], `${join(reportDir, 'run', 'report.json')} cannot be read (ENOENT): is ${join(reportDir, 'run')} a report directory?`],
      [['report', join(reportDir, 'nope'), '--allure'], `${join(reportDir, 'nope')} is not a directory: give the report directory a run wrote (it holds report.json)`],
      [['report', reportDir, '--history-from', reportDir], '--history-from goes with --allure'],
      [['report', reportDir, '--allure', '--history-from', join(reportDir, 'run')], `${join(reportDir, 'run', 'report.json')} cannot be read (ENOENT): is ${join(reportDir, 'run')} a report directory?`],
    ];
    for (const [args, message] of cases) {
      const built = await lbdrill(args).run;
      expect([args.join(' '), built.code, built.stderr.trim().split('\n')]).toEqual([args.join(' '), 2, [`lbdrill: ${message}`]]);
    }
  }, 120_000);

  it('Ctrl-C while allure generates: exit 130, no JVM left behind', async () => {
    const next = copyOfRun(reportDir);
    const build = lbdrill(['report', next, '--allure']);
    const end = Date.now() + 20_000;
    while (!leftovers(next).some((l) => l.includes('java')) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(leftovers(next).some((l) => l.includes('java'))).toBe(true);
    process.kill(build.pid, 'SIGINT');
    expect((await build.run).code).toBe(130);
    expect(leftovers(next)).toEqual([]);
  }, 120_000);
});
