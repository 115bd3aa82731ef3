import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './run-lbdrill.ts';

/*
 * lbdrill killed at each phase of a run, by SIGINT, SIGTERM and SIGKILL, synchronised on its own
 * output lines; then the machine is inspected for anything of that run: processes, listening
 * ports, scratch dirs, namespaces, veths, claim routes (a namespace takes its iptables rules with
 * it). After SIGKILL the proxies go by their parent-death signal, and test-host objects by the
 * next run's sweep, which names what it removed.
 */

const reportDirs: string[] = [];
afterAll(() => {
  for (const dir of reportDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });

/** Every process below `pid` (children, their children, ...), from /proc. */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  let frontier = [pid];
  while (frontier.length > 0) {
    frontier = [...parent].filter(([, ppid]) => frontier.includes(ppid)).map(([child]) => child);
    found.push(...frontier);
  }
  return found;
}

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));

/** Listening TCP sockets ("127.9.10.1:13000") of these processes. */
function listeningOf(pids: readonly number[]): string[] {
  return sh('ss', ['-Hltnp'])
    .split('\n')
    .filter((line) => [...line.matchAll(/pid=(\d+)/g)].some((m) => pids.includes(Number(m[1]))))
    .map((line) => line.trim().split(/\s+/)[3]!);
}

const listeningNow = (): string[] => sh('ss', ['-Hltn']).split('\n').filter(Boolean).map((line) => line.trim().split(/\s+/)[3]!);

/** The run's test-host objects, found by the pid in their names and aliases; claim routes as a set to diff. */
function netObjects(pid: number): string[] {
  const prefix = `lbd-${pid}-`;
  const namespaces = sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(prefix));
  const links = (JSON.parse(sh('ip', ['-j', 'link', 'show'])) as Array<{ ifname: string; ifalias?: string }>).filter((l) => l.ifalias?.startsWith(`lbdrill ${prefix}`)).map((l) => `link ${l.ifname}`);
  const journals = existsSync('/run/lbdrill/netns') ? readdirSync('/run/lbdrill/netns').filter((f) => f.startsWith(prefix)).map((f) => `journal ${f}`) : [];
  return [...namespaces.map((n) => `namespace ${n}`), ...links, ...journals];
}

const claimRoutes = (): string[] => sh('ip', ['route', 'show', 'table', 'main', 'proto', '251']).split('\n').filter(Boolean);

interface Started {
  pid: number;
  reportDir: string;
  output: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[]): Started {
  const reportDir = mkdtempSync(join(tmpdir(), 'lbdrill-kill-'));
  reportDirs.push(reportDir);
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'lbdrill.mjs'), ...args, '--report-dir', reportDir], { cwd: ROOT, env: { ...process.env, CI: 'true', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: Array<() => void> = [];
  const onData = (d: Buffer): void => {
    out += d.toString();
    for (const w of waiters.splice(0)) w();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('close', (code, signal) => r({ code, signal })));
  return { pid: child.pid!, reportDir, output: () => out, done };
}

/** Resolves when the run prints a line containing `text` (no sleeps: on lbdrill's own output). */
async function lineFrom(run: Started, text: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!run.output().includes(text)) {
    const ended = await Promise.race([run.done.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 25))]);
    if (ended && !run.output().includes(text)) throw new Error(`lbdrill ended before printing "${text}":\n${run.output()}`);
    if (Date.now() > end) throw new Error(`no "${text}" within ${timeoutMs} ms:\n${run.output()}`);
  }
}

/** Polls `check` (what is still there) until it is empty; the processes die on their own schedule after a signal. */
async function gone<T>(what: string, check: () => T[], timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let left = check();
  while (left.length > 0 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    left = check();
  }
  expect(left, `${what} left behind`).toEqual([]);
}

const root = process.getuid?.() === 0;

interface Phase {
  name: string;
  args: string[];
  line: string;
  netns?: boolean;
}

const PHASES: Phase[] = [
  // stream.idle-gap keeps the run going for 5 s after start-up, so a kill sent on the line lands in the run
  { name: 'starting backends', args: ['run', '--profile', 'shakenfist-api', '--target', 'nginx', '--only', 'stream.idle-gap'], line: 'nginx: starting 2 test backends' },
  { name: 'LB starting', args: ['run', '--profile', 'shakenfist-api', '--target', 'apache', '--only', 'stream.idle-gap'], line: 'apache: starting apache2/' },
  { name: 'mid-check', args: ['run', '--profile', 'shakenfist-api', '--target', 'haproxy', '--only', 'stream.idle-gap'], line: "haproxy: bound the profile's contract" },
  { name: 'mid-fault', args: ['drill', 'failover', '--target', 'reference', '--time-scale', '0.1'], line: 'waiting for detection' },
  { name: 'mid-netns', args: ['drill', 'failover', '--target', 'haproxy', '--time-scale', '0.1', '--network', 'netns', '--fault', 'partition'], line: 'waiting for detection', netns: true },
];
const SIGNALS = [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGKILL', null],
] as const;

describe('lbdrill killed at every phase leaves nothing behind', () => {
  for (const phase of PHASES) {
    for (const [signal, exitCode] of SIGNALS) {
      it.skipIf(phase.netns && !root)(`${signal} while ${phase.name}`, async () => {
        const routesBefore = claimRoutes();
        const run = start(phase.args);
        await lineFrom(run, phase.line, 60_000);
        const processes = descendants(run.pid);
        const ports = listeningOf([run.pid, ...processes]);
        process.kill(run.pid, signal);
        const ended = await run.done;
        expect(ended.code ?? ended.signal, run.output()).toBe(exitCode ?? 'SIGKILL');
        await gone('processes', () => processes.filter(alive));
        await gone('processes naming the run dir', () => {
          try {
            return sh('pgrep', ['-af', run.reportDir]).split('\n').filter((l) => l && !l.includes('pgrep'));
          } catch {
            return [];
          }
        });
        await gone('listening ports', () => ports.filter((p) => listeningNow().includes(p)));
        if (signal !== 'SIGKILL') {
          // the proxies' scratch dirs go; after SIGKILL they stay in the report dir, which is the user's
          const scratch = existsSync(join(run.reportDir, 'run')) ? readdirSync(join(run.reportDir, 'run')).filter((t) => existsSync(join(run.reportDir, 'run', t, 'tmp'))) : [];
          expect(scratch, 'scratch dirs').toEqual([]);
        }
        expect(readdirSync(tmpdir()).filter((f) => f.includes(`lbdrill-${run.pid}-`) || f.includes(`lbdrill-podman-${run.pid}.`)), 'temp files').toEqual([]);
        if (!phase.netns || !root) return;
        if (signal === 'SIGKILL') {
          expect(netObjects(run.pid).length, 'SIGKILL leaves the test hosts to the next run').toBeGreaterThan(0);
          const next = start(['run', '--profile', 'shakenfist-api', '--target', 'reference', '--only', 'prefix.strip']);
          await next.done;
          expect(next.output()).toMatch(new RegExp(`removed what an earlier lbdrill run left behind \\(it ended without cleaning up\\): .*namespace lbd-${run.pid}-`));
        }
        expect(netObjects(run.pid), 'namespaces, veths, journals').toEqual([]);
        expect(claimRoutes().filter((r) => !routesBefore.includes(r)), 'claim routes').toEqual([]);
      }, 90_000);
    }
  }
});
