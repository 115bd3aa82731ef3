import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../harness/report/run-report.ts';
import { ROOT, runLbdrill } from './run-lbdrill.ts';

const SYSMANAGE_NGINX = join(ROOT, '..', 'shared', 'real-configs', 'sysmanage', 'nginx.conf');

/** Processes whose command line mentions the run's report dir: the proxies lbdrill started for it. */
function leftovers(reportDir: string): string[] {
  try {
    return execFileSync('pgrep', ['-af', reportDir], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.trim() && !l.includes('pgrep'));
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

describe('bad input: one line naming what to fix, exit 2, nothing left running', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['unknown profile', ['run', '--profile', 'nope'], /unknown profile "nope"/],
    ['unknown target', ['run', '--profile', 'shakenfist-api', '--target', 'traefik'], /unknown target "traefik"/],
    ['unknown flag', ['run', '--profile', 'shakenfist-api', '--fast'], /unknown option '--fast'/],
    ['unknown check', ['run', '--profile', 'shakenfist-api', '--only', 'prefix.nope'], /unknown check "prefix.nope"/],
    ['missing config file', ['run', '--profile', 'shakenfist-api', '--target', 'nginx=/nonexistent/site.conf'], /cannot read nginx config \/nonexistent\/site.conf: no such file/],
    ['config without upstreams', ['run', '--profile', 'shakenfist-api', '--target', `nginx=${join(ROOT, 'fixtures/configs/invalid/no-upstreams.nginx.conf')}`], /has no upstream servers/],
    // The published sysmanage file puts limit_req_zone inside `server`: nginx's own message, at the user's line.
    ['config the proxy rejects', ['run', '--profile', 'shakenfist-api', '--target', `nginx=${SYSMANAGE_NGINX}`], /nginx rejected .*sysmanage\/nginx.conf: .*"limit_req_zone" directive is not allowed here in .*sysmanage\/nginx.conf:38/],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const run = await runLbdrill(args);
      expect(run.code).toBe(2);
      const errorLines = run.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('npm warn') && !l.startsWith('lbdrill 0.') && !/: checking /.test(l));
      expect(errorLines.length, run.stderr).toBe(1);
      expect(errorLines[0]).toMatch(message);
      expect(leftovers(run.reportDir)).toEqual([]);
    }, 60_000);
  }
});

/** Report dirs of this file's runs, removed when it is done. */
const reportDirs: string[] = [];
afterAll(() => {
  for (const dir of reportDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function startRun(args: string[]): { reportDir: string; child: ReturnType<typeof spawn>; done: Promise<number | null>; output: () => string } {
  const reportDir = mkdtempSync(join(tmpdir(), 'lbdrill-life-'));
  reportDirs.push(reportDir);
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'lbdrill.mjs'), ...args, '--report-dir', reportDir], { cwd: ROOT, env: { ...process.env, CI: 'true', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<number | null>((r) => child.on('close', (code, signal) => r(code ?? (signal ? 128 : null))));
  child.on('exit', (code) => (out += `\n[lbdrill exited with code ${code}]`));
  return { reportDir, child, done, output: () => out };
}

/** `context`: what to show when the condition is not met (the run's output so far). */
async function waitFor(predicate: () => boolean, timeoutMs: number, context?: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  const tail = (): string => (context ? `; output so far:\n${context().split('\n').slice(-30).join('\n')}` : '');
  while (!predicate()) {
    if (context?.().includes('[lbdrill exited')) throw new Error(`lbdrill exited before the condition was met${tail()}`);
    if (Date.now() > end) throw new Error(`condition not met in ${timeoutMs} ms${tail()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('nothing leaks', () => {
  it('Ctrl-C mid-run stops the proxy and exits 130', async () => {
    const run = startRun(['run', '--profile', 'shakenfist-api', '--target', 'nginx', '--only', 'stream.idle-gap']);
    await waitFor(() => run.output().includes('nginx: starting'), 30_000, run.output);
    await waitFor(() => leftovers(run.reportDir).length > 0, 10_000);
    run.child.kill('SIGINT');
    expect(await run.done).toBe(130);
    expect(leftovers(run.reportDir)).toEqual([]);
  }, 60_000);

  it('Ctrl-C in the middle of a failover drill, with a backend stopped: exit 130, nothing left', async () => {
    const run = startRun(['drill', 'failover', '--target', 'haproxy', '--time-scale', '0.1']);
    await waitFor(() => run.output().includes('waiting for detection'), 60_000, run.output);
    run.child.kill('SIGINT');
    expect(await run.done).toBe(130);
    expect(leftovers(run.reportDir)).toEqual([]);
  }, 90_000);

  it('a crash of the LB under test ends its checks as error, exit 1, nothing left', async () => {
    const run = startRun(['run', '--profile', 'shakenfist-api', '--target', 'nginx', '--only', 'stream.idle-gap', '--only', 'prefix.strip']);
    await waitFor(() => leftovers(run.reportDir).some((l) => l.includes('nginx: master')), 30_000);
    const master = leftovers(run.reportDir).find((l) => l.includes('nginx: master'))!;
    process.kill(Number(master.split(' ')[0]), 'SIGKILL');
    expect(await run.done).toBe(1);
    const report = JSON.parse(readFileSync(join(run.reportDir, 'report.json'), 'utf8')) as RunReport;
    expect(report.targets[0]!.status).toBe('crashed');
    expect(report.results.find((r) => r.check === 'stream.idle-gap')!.status).toBe('error');
    await waitFor(() => leftovers(run.reportDir).length === 0, 5_000);
  }, 60_000);
});
