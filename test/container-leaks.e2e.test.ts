import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { labelledContainers, leftContainers } from './container-leftovers.ts';
import { ROOT, runLbdrill } from './run-lbdrill.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** lbdrill running in the background, its output collected, until `done`. */
function startRun(args: string[]): { pid: number; child: ReturnType<typeof spawn>; done: Promise<number | null>; output: () => string } {
  const reportDir = mkdtempSync(join(tmpdir(), 'lbdrill-container-leak-'));
  dirs.push(reportDir);
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'lbdrill.mjs'), ...args, '--report-dir', reportDir], { cwd: ROOT, env: { ...process.env, CI: 'true', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<number | null>((r) => child.on('close', (code, signal) => r(code ?? (signal ? 128 : null))));
  return { pid: child.pid!, child, done, output: () => out };
}

async function waitFor(predicate: () => boolean, timeoutMs: number, context: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`condition not met in ${timeoutMs} ms; output so far:\n${context().split('\n').slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A run whose LB container is up when the idle gap begins: long enough to interrupt. */
const LONG_RUN = ['run', '--profile', 'shakenfist-api', '--target', 'nginx', '--only', 'stream.idle-gap', '--runtime', 'container'];

describe('--runtime container leaves no container behind', () => {
  it('Ctrl-C mid-run removes the LB container and exits 130', async () => {
    const run = startRun(LONG_RUN);
    await waitFor(() => run.output().includes('nginx: container lbdrill/nginx:bookworm: image check'), 60_000, run.output);
    expect(labelledContainers().filter((c) => c.run === String(run.pid)).map((c) => c.state)).toEqual(['running']);
    run.child.kill('SIGINT');
    expect(await run.done, run.output()).toBe(130);
    expect(labelledContainers().filter((c) => c.run === String(run.pid))).toEqual([]);
  }, 120_000);

  it('after a SIGKILL of lbdrill, the next container run removes what it left and says so', async () => {
    const killed = startRun(LONG_RUN);
    await waitFor(() => killed.output().includes('nginx: container lbdrill/nginx:bookworm: image check'), 60_000, killed.output);
    killed.child.kill('SIGKILL');
    await killed.done;
    // conmon keeps the container running without lbdrill: it is there to be found
    const left = leftContainers().filter((c) => c.run === String(killed.pid));
    expect(left.map((c) => c.state)).toEqual(['running']);
    const next = await runLbdrill(['run', '--profile', 'shakenfist-api', '--target', 'nginx', '--only', 'prefix.strip', '--runtime', 'container']);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toContain(`containers: removed ${left[0]!.name} (running), left by lbdrill run ${killed.pid} which is gone`);
    expect(leftContainers()).toEqual([]);
    // its Podman service ended with it (parent-death signal); the socket file is swept too
    expect(existsSync(join(tmpdir(), `lbdrill-podman-${killed.pid}.sock`))).toBe(false);
  }, 180_000);
});
