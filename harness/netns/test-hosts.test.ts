import http from 'node:http';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isLbdrillError } from '../errors.ts';
import { REPO_ROOT } from '../paths.ts';
import { DEFAULT_STATE_DIR } from './run-journal.ts';
import { runCommand } from './system-command.ts';
import { TestHosts, type SetupStep } from './test-hosts.ts';

const availability = await TestHosts.available();

/**
 * CI runs every test: on a machine that cannot host test hosts (no root, no iptables, no
 * namespaces) each test of these suites fails with the reason instead of being skipped
 * (a beforeEach, since a failing beforeAll makes vitest report its tests as skipped).
 */
function requireTestHosts(): void {
  if (!availability.ok) throw new Error(`network-namespace test hosts cannot run here: ${availability.reason}`);
}

/** A fresh connect to a reachable host completes in well under this; EHOSTUNREACH must come faster still. */
const FAST_FAIL_MS = 1000;
/** How long a connect or a request must get nothing for it to count as blackholed/stalled. */
const STALL_MS = 1000;
/** A stalled segment is retransmitted with backoff (200 ms, 400 ms, ...); after ~1-2 s down the next try is within this. */
const RESUME_MS = 10_000;

const ownPrefix = `lbd-${process.pid}-`;
/** pids of child runs, for the safety-net sweep. */
const children: number[] = [];

describe('TestHosts.available', () => {
  it('finds root, iproute2, iptables and network namespaces here, or fails saying which is missing', () => {
    expect(availability).toEqual({ ok: true });
  });
});

describe('TestHosts in network namespaces', () => {
  let hosts: TestHosts;
  const backends: http.Server[] = [];
  const ports: number[] = [];
  let rootRulesBefore = '';

  beforeEach(requireTestHosts);
  beforeAll(async () => {
    if (!availability.ok) return;
    rootRulesBefore = await iptablesRoot();
    hosts = await TestHosts.create({ count: 2, runId: 'test-hosts.test' });
    for (let i = 0; i < 2; i += 1) {
      const host = hosts.host(i);
      const backend = await startBackend(host.backendAddress, `backend ${i}`);
      backends.push(backend);
      ports.push(await host.forward(0, (backend.address() as net.AddressInfo).port));
    }
  });

  afterAll(async () => {
    await hosts?.dispose();
    for (const backend of backends) backend.closeAllConnections();
    await Promise.all(backends.map((b) => new Promise((resolve) => b.close(resolve))));
  });

  it('gives each host its own /30 in the claimed block and routes it through its veth', async () => {
    const [a, b] = [hosts.host(0), hosts.host(1)];
    expect(hosts.block).toMatch(/^10\.251\.\d+\.0\/24$/);
    expect(a.address).not.toBe(b.address);
    for (const host of [a, b]) {
      expect(host.link.length).toBeLessThanOrEqual(15);
      expect((await runCommand('ip', ['route', 'get', host.address])).stdout).toContain(`dev ${host.link} `);
    }
    expect((await runCommand('ip', ['route', 'show', 'exact', hosts.block ?? ''])).stdout).toMatch(/^unreachable /);
  });

  it('carries HTTP through each host to its backend, which sees the host address as client', async () => {
    for (let i = 0; i < 2; i += 1) {
      const response = await get(hosts.host(i).address, ports[i] as number);
      expect(response.body).toBe(`backend ${i} from ${hosts.host(i).address}`);
    }
  });

  it('link down: new connects fail fast via the unreachable route, established connections stall, link up restores both', async () => {
    const host = hosts.host(0);
    const established = await KeepAlive.open(host.address, ports[0] as number);
    expect(await established.request(STALL_MS)).toContain('backend 0');

    await hosts.linkDown(0);
    const routeGet = await runCommand('ip', ['route', 'get', host.address]);
    expect(routeGet.code).not.toBe(0);
    expect(routeGet.stderr).toContain('No route to host');
    expect(routeGet.stdout).not.toMatch(/via|eth0/);

    const started = performance.now();
    expect(await connectOutcome(host.address, ports[0] as number, FAST_FAIL_MS)).toBe('EHOSTUNREACH');
    expect(performance.now() - started).toBeLessThan(FAST_FAIL_MS);
    expect((await get(hosts.host(1).address, ports[1] as number)).body).toContain('backend 1');

    const stalled = established.request(STALL_MS + RESUME_MS);
    await expect(established.nothingFor(STALL_MS)).resolves.toBe(true);

    await hosts.linkUp(0);
    expect((await get(host.address, ports[0] as number)).body).toContain('backend 0');
    expect(await stalled).toContain('backend 0');
    established.close();
  });

  it('partition: connects time out and established connections stall while the other host works; heal restores', async () => {
    const host = hosts.host(0);
    const established = await KeepAlive.open(host.address, ports[0] as number);
    expect(await established.request(STALL_MS)).toContain('backend 0');

    await hosts.partition(0);
    expect(await connectOutcome(host.address, ports[0] as number, STALL_MS)).toBe('timeout');
    const stalled = established.request(STALL_MS + RESUME_MS);
    await expect(established.nothingFor(STALL_MS)).resolves.toBe(true);
    expect((await get(hosts.host(1).address, ports[1] as number)).body).toContain('backend 1');
    // The rules live in the host's namespace; the root namespace's tables are untouched.
    expect(await iptablesRoot()).toBe(rootRulesBefore);
    expect(dropRules(await iptablesIn(host.name))).toHaveLength(2);

    await hosts.heal(0);
    expect(dropRules(await iptablesIn(host.name))).toHaveLength(0);
    expect((await get(host.address, ports[0] as number)).body).toContain('backend 0');
    expect(await stalled).toContain('backend 0');
    established.close();
  });

  it('dispose removes forwarders, namespaces, veths, the route and the journal, and is idempotent', async () => {
    const names = [0, 1].map((i) => hosts.host(i).name);
    const links = [0, 1].map((i) => hosts.host(i).link);
    const block = hosts.block as string;
    await hosts.partition(1); // a rule to remove as well
    expect(await hosts.dispose()).toEqual({ leftovers: [] });
    expect(await hosts.dispose()).toEqual({ leftovers: [] });

    const state = await systemState();
    for (const name of names) expect(state.namespaces).not.toContain(name);
    for (const link of links) expect(state.links).not.toContain(link);
    expect(state.routes).not.toContain(block.replace(/\/24$/, ''));
    expect(await iptablesRoot()).toBe(rootRulesBefore);
    expect(existsSync(join(DEFAULT_STATE_DIR, `${hosts.runKey}.json`))).toBe(false);
    expect(() => hosts.host(0)).toThrow(/disposed/);
  });
});

describe('TestHosts setup failures and process exits', () => {
  beforeEach(requireTestHosts);
  afterAll(async () => {
    // Safety net should an assertion fail half-way: children are dead by now, so this only removes theirs.
    for (const pid of children) await TestHosts.cleanupStale(`lbd-${pid}-`);
  });

  it.each<[SetupStep, number]>([
    ['route', -1],
    ['namespace', 0],
    ['namespace', 1],
    ['veth', 1],
    ['up', -1],
  ])('a failure at step %s (host %i) removes everything created so far', async (failStep, failIndex) => {
    const before = await ownState();
    const crash = new Error('simulated crash');
    const created = TestHosts.create({
      count: 2,
      onSetupStep: (step, index) => {
        if (step === failStep && index === failIndex) throw crash;
      },
    });
    const err = await created.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isLbdrillError(err, 'LBDRILL_ERR_FAULT')).toBe(true);
    expect((err as Error).cause).toBe(crash);
    expect((err as Error).message).not.toContain('left behind');
    expect(await ownState()).toEqual(before);
  });

  it('a process killed with SIGKILL leaves objects that cleanupStale removes, forwarders included', async () => {
    const child = spawnChild('setInterval(() => undefined, 1 << 30);');
    const started = await child.ready;
    expect(started.namespaces.length).toBe(2);
    expect((await systemState()).namespaces).toContain(started.namespaces[0]);
    process.kill(child.process.pid as number, 'SIGKILL');
    await once(child.process, 'exit'); // reaped: a zombie still counts as alive
    expect((await systemState()).namespaces).toContain(started.namespaces[0]);
    expect((await runCommand('ip', ['route', 'show', 'exact', started.block])).stdout).toMatch(/^unreachable /);

    const report = await TestHosts.cleanupStale(`lbd-${child.process.pid}-`);
    expect(report.leftovers).toEqual([]);
    expect(report.removed).toEqual(expect.arrayContaining([`route unreachable ${started.block}`, `namespace ${started.namespaces[0]}`]));
    await expectChildGone(child.process.pid as number, started);
    expect(await exited(started.forwarderPid)).toBe(true);
  });

  it('SIGTERM runs the disposer registered with the cleanup registry', async () => {
    const child = spawnChild('setInterval(() => undefined, 1 << 30);');
    const started = await child.ready;
    child.process.kill('SIGTERM');
    const [code] = (await once(child.process, 'exit')) as [number | null];
    expect(code).toBe(143);
    await expectChildGone(child.process.pid as number, started);
  });

  it('a plain exit without dispose is swept synchronously', async () => {
    const child = spawnChild('process.exit(0);');
    const started = await child.ready;
    const [code] = (await once(child.process, 'exit')) as [number | null];
    expect(code).toBe(0);
    await expectChildGone(child.process.pid as number, started);
  });

  it('cleanupStale leaves the objects of a live process alone', async () => {
    await using hosts = await TestHosts.create({ count: 1 });
    const report = await TestHosts.cleanupStale(ownPrefix);
    expect(report).toEqual({ removed: [], leftovers: [] });
    expect((await systemState()).namespaces).toContain(hosts.host(0).name);
  });

  it('cleanupStale refuses a prefix that is not lbdrill’s', async () => {
    await expect(TestHosts.cleanupStale('')).rejects.toThrow(/runPrefix/);
    await expect(TestHosts.cleanupStale('veth')).rejects.toThrow(/runPrefix/);
  });
});

interface ChildRun {
  runKey: string;
  block: string;
  namespaces: string[];
  links: string[];
  forwarderPid: number;
}

/** A child lbdrill-like process that creates two hosts with a forwarder, prints what it made, then runs `then`. */
function spawnChild(then: string): { process: ChildProcess; ready: Promise<ChildRun> } {
  const code = `
    const { TestHosts } = await import(${JSON.stringify(join(REPO_ROOT, 'harness/netns/test-hosts.ts'))});
    const { execFileSync } = await import('node:child_process');
    const hosts = await TestHosts.create({ count: 2, runId: 'child' });
    await hosts.host(0).forward(0, 9);
    const pids = execFileSync('ip', ['netns', 'pids', hosts.host(0).name], { encoding: 'utf8' }).trim().split('\\n');
    console.log(JSON.stringify({ runKey: hosts.runKey, block: hosts.block, forwarderPid: Number(pids[0]),
      namespaces: [0, 1].map((i) => hosts.host(i).name), links: [0, 1].map((i) => hosts.host(i).link) }));
    ${then}`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid !== undefined) children.push(child.pid);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const ready = new Promise<ChildRun>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line) as ChildRun);
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before reporting: ${stderr}`)));
  });
  return { process: child, ready };
}

async function expectChildGone(pid: number, run: ChildRun): Promise<void> {
  const state = await systemState();
  for (const name of run.namespaces) expect(state.namespaces).not.toContain(name);
  for (const link of run.links) expect(state.links).not.toContain(link);
  expect(state.namespaces).not.toContain(`lbd-${pid}-`);
  expect(state.routes).not.toContain(run.block.replace(/\/24$/, ''));
  expect(existsSync(join(DEFAULT_STATE_DIR, `${run.runKey}.json`))).toBe(false);
}

/** Waits (bounded) for a process to die; a zombie waiting for its reaper counts as dead. */
async function exited(pid: number, withinMs = 2000): Promise<boolean> {
  const deadline = performance.now() + withinMs;
  while (performance.now() < deadline) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return true;
    }
    if (/\) Z /.test(stat)) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

/** Namespaces, links, routes and journals of this process (by prefix), for before/after comparisons. */
async function ownState(): Promise<Record<string, string[]>> {
  const state = await systemState();
  const pidTag = `lbd${process.pid % 10_000}v`;
  const lines = (text: string): string[] => text.split('\n').filter((l) => l.includes(ownPrefix) || l.includes(pidTag) || l.includes('10.251.'));
  const journals = (await runCommand('ls', [DEFAULT_STATE_DIR])).stdout.split('\n').filter((f) => f.startsWith(ownPrefix));
  return { namespaces: lines(state.namespaces), links: lines(state.links), routes: lines(state.routes), journals };
}

async function systemState(): Promise<{ namespaces: string; links: string; routes: string }> {
  const [namespaces, links, routes] = await Promise.all([
    runCommand('ip', ['netns', 'list']),
    runCommand('ip', ['-o', 'link', 'show']),
    runCommand('ip', ['route', 'show', 'table', 'all']),
  ]);
  return { namespaces: namespaces.stdout, links: links.stdout, routes: routes.stdout };
}

async function iptablesRoot(): Promise<string> {
  return (await runCommand('iptables', ['-w', '5', '-S'])).stdout;
}

async function iptablesIn(namespace: string): Promise<string> {
  return (await runCommand('ip', ['netns', 'exec', namespace, 'iptables', '-w', '5', '-S'])).stdout;
}

function dropRules(rules: string): string[] {
  return rules.split('\n').filter((l) => l.startsWith('-A') && l.includes('-j DROP'));
}

async function startBackend(address: string, name: string): Promise<http.Server> {
  const server = http.createServer((req, res) => res.end(`${name} from ${req.socket.remoteAddress}`));
  server.keepAliveTimeout = 60_000;
  server.listen(0, address);
  await once(server, 'listening');
  return server;
}

async function get(address: string, port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: address, port, path: '/', agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET http://${address}:${port}/ timed out`)));
    req.on('error', reject);
  });
}

/** 'connected', the error code of a failed connect, or 'timeout' when nothing happened within `timeoutMs`. */
async function connectOutcome(address: string, port: number, timeoutMs: number): Promise<string> {
  const socket = net.connect({ host: address, port });
  try {
    return await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), timeoutMs);
      socket.once('connect', () => (clearTimeout(timer), resolve('connected')));
      socket.once('error', (err: NodeJS.ErrnoException) => (clearTimeout(timer), resolve(err.code ?? err.message)));
    });
  } finally {
    socket.destroy();
  }
}

/** One raw HTTP/1.1 keep-alive connection, so a request can be sent on an already established connection. */
class KeepAlive {
  readonly #socket: net.Socket;
  #received = '';
  #lastDataAt = 0;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.#received += chunk;
      this.#lastDataAt = performance.now();
    });
    socket.on('error', () => undefined);
  }

  static async open(address: string, port: number): Promise<KeepAlive> {
    const socket = net.connect({ host: address, port });
    await once(socket, 'connect');
    return new KeepAlive(socket);
  }

  /** Sends a request and resolves with the response once its body (Content-Length) has arrived. */
  async request(timeoutMs: number): Promise<string> {
    this.#received = '';
    this.#socket.write('GET / HTTP/1.1\r\nHost: test\r\n\r\n');
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const match = /\r\n\r\n/.exec(this.#received);
      const length = Number(/content-length: (\d+)/i.exec(this.#received)?.[1]);
      if (match && this.#received.length >= match.index + 4 + length) return this.#received;
      if (this.#socket.destroyed) throw new Error(`connection closed: ${this.#received}`);
      if (performance.now() > deadline) throw new Error(`no response within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** True when nothing arrived and the connection stayed open for `ms`. */
  async nothingFor(ms: number): Promise<boolean> {
    const since = performance.now();
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.#lastDataAt < since && !this.#socket.destroyed;
  }

  close(): void {
    this.#socket.destroy();
  }
}
