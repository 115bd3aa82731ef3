import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../harness/report/run-report.ts';
import { ROOT } from './run-lbdrill.ts';

/** Working dirs of this file's runs (their default reports/ land there), removed when it is done. */
const workDirs: string[] = [];
afterAll(() => {
  for (const dir of workDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

interface Finished {
  code: number | null;
  output: string;
  reportDir: string;
  report: RunReport;
}

/** `lbdrill run ARGS` with no --report-dir, from `cwd`: the run picks its default reports/<timestamp>. */
async function run(cwd: string, args: string[]): Promise<Omit<Finished, 'reportDir' | 'report'>> {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'lbdrill.mjs'), 'run', ...args], { cwd, env: { ...process.env, CI: 'true', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 150_000);
  const code = await new Promise<number | null>((r) => child.on('close', r));
  clearTimeout(killer);
  return { code, output };
}

/** Two runs started at once from one working dir: both must finish on their own report dir. */
async function together(a: string[], b: string[]): Promise<[Finished, Finished]> {
  const cwd = mkdtempSync(join(tmpdir(), 'lbdrill-concurrent-'));
  workDirs.push(cwd);
  const runs = await Promise.all([run(cwd, a), run(cwd, b)]);
  const dirs = readdirSync(join(cwd, 'reports')).sort();
  expect(dirs, runs.map((r) => r.output).join('\n----\n')).toHaveLength(2);
  return runs.map((r) => {
    const reportDir = dirs.find((d) => r.output.includes(`report in reports/${d}\n`))!;
    expect(reportDir, r.output).toBeDefined();
    return { ...r, reportDir, report: JSON.parse(readFileSync(join(cwd, 'reports', reportDir, 'report.json'), 'utf8')) as RunReport };
  }) as [Finished, Finished];
}

function cells(f: Finished): string[] {
  return f.report.results.map((r) => `${r.target} ${r.check} ${r.status}`).sort();
}

/** Every address:port a run's backends and listeners used. */
function sockets(f: Finished): string[] {
  return f.report.targets.flatMap((t) => [...t.backends.map((b) => b.address), ...t.listeners.map((l) => `127.0.0.1:${l.port}`)]);
}

describe('two lbdrill runs at once on one machine do not collide', () => {
  it('same profile, same target, same second: own report dir, own backend addresses and ports, both pass', async () => {
    const args = ['--profile', 'shakenfist-api', '--target', 'nginx', '--only', 'prefix.strip', '--only', 'balance.all-backends'];
    const [a, b] = await together(args, args);
    expect(a.reportDir).not.toBe(b.reportDir);
    for (const f of [a, b]) {
      expect(f.code, f.output).toBe(0);
      expect(cells(f)).toEqual(['nginx balance.all-backends pass', 'nginx prefix.strip pass']);
    }
    // the production port (13000) is kept by both, on distinct loopback blocks
    expect(sockets(a).filter((s) => sockets(b).includes(s))).toEqual([]);
    expect(new Set([...a.report.targets[0]!.backends, ...b.report.targets[0]!.backends].map((x) => x.address.split('.')[1])).size).toBe(2);
  }, 180_000);

  it('different profiles and targets side by side: both pass', async () => {
    const [a, b] = await together(
      ['--profile', 'haproxy-role', '--target', 'haproxy', '--only', 'retry.redispatch', '--time-scale', '0.1'],
      ['--profile', 'sticky-ws', '--target', 'apache', '--target', 'reference', '--only', 'sticky.cookie-honoured'],
    );
    expect(cells(a)).toEqual(['haproxy retry.redispatch pass']);
    expect(cells(b)).toEqual(['apache sticky.cookie-honoured pass', 'reference sticky.cookie-honoured pass']);
    for (const f of [a, b]) expect(f.code, f.output).toBe(0);
    expect(sockets(a).filter((s) => sockets(b).includes(s))).toEqual([]);
  }, 180_000);
});
