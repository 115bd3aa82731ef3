import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adminRequest, deadAddress, sendRequest, startCheckedUpstream, startTestUpstream, type CheckedUpstream, type TestUpstream } from './test-upstream.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** SIGTERM must end the process well within this, open connections included. */
const SHUTDOWN_BUDGET_MS = 1000;
const READY_TIMEOUT_MS = 20_000;

interface Running {
  child: ChildProcessWithoutNullStreams;
  lines: string[];
  nextLine(): Promise<string>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

const children: ChildProcessWithoutNullStreams[] = [];
let dir: string;
let up: TestUpstream;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'reference-lb-main-'));
  up = await startTestUpstream((_req, res) => {
    res.end('ok');
  });
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(async () => {
  await up.close();
  rmSync(dir, { recursive: true, force: true });
});

function writeConfig(name: string, config: unknown): string {
  const file = path.join(dir, name);
  writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config));
  return file;
}

function run(args: string[]): Running {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: REPO_ROOT, stdio: 'pipe' });
  children.push(child);
  const lines: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    const w = waiting.shift();
    if (w) w(line);
    else lines.push(line);
  });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (t: string) => (err += t));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    lines,
    nextLine: () => {
      const l = lines.shift();
      if (l !== undefined) return Promise.resolve(l);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no stdout line; stderr: ${err}`)), READY_TIMEOUT_MS);
        waiting.push((line) => {
          clearTimeout(t);
          resolve(line);
        });
      });
    },
    exit,
    stderr: () => err,
  };
}

function proxyConfig(servers: string[], extra: Record<string, unknown> = {}) {
  return {
    upstreams: { sfapi: { keepalive: 4, retries: 0, servers: servers.map((address) => ({ address })) } },
    listeners: [
      { name: 'http', bind: '127.0.0.1:0', routes: [{ match: { prefix: '/' }, proxy: { upstream: 'sfapi' } }] },
      { name: 'redirect', bind: '127.0.0.1:0', routes: [{ match: { prefix: '/' }, redirect: { status: 301, location: 'https://{host}{request_uri}' } }] },
    ],
    ...extra,
  };
}

describe('main.ts', () => {
  it('prints the ready line, serves, logs upstream errors as JSON lines and exits 0 on SIGTERM with connections open', async () => {
    const dead = await deadAddress();
    const lb = run(['--config', writeConfig('ok.yaml', proxyConfig([up.address, dead]))]);
    const ready = JSON.parse(await lb.nextLine()) as { event: string; listeners: Array<{ name: string; host: string; port: number; tls: boolean }> };
    expect(ready).toEqual({
      event: 'ready',
      listeners: [
        { name: 'http', host: '127.0.0.1', port: expect.any(Number), tls: false },
        { name: 'redirect', host: '127.0.0.1', port: expect.any(Number), tls: false },
      ],
    });
    const port = ready.listeners[0]!.port;
    const statuses = [(await sendRequest(port, '/a')).status, (await sendRequest(port, '/b')).status].sort();
    expect(statuses).toEqual([200, 502]);
    const event = JSON.parse(await lb.nextLine()) as Record<string, unknown>;
    expect(event).toMatchObject({ event: 'upstream-error', code: 'LB_ERR_UPSTREAM_CONNECT', server: dead, status: 502 });

    // An idle keep-alive connection stays open across the SIGTERM.
    const agent = new http.Agent({ keepAlive: true });
    await sendRequest(port, '/c', { agent });
    const started = Date.now();
    lb.child.kill('SIGTERM');
    const { code } = await lb.exit;
    agent.destroy();
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(SHUTDOWN_BUDGET_MS);
  });

  it.each([
    ['a bad bind', { listeners: [{ name: 'h', bind: '80', routes: [{ match: { prefix: '/' }, deny: true }] }] }, 'reference-lb: config: listeners[0].bind: expected host:port, got "80"'],
    ['YAML syntax', 'listeners: [\n  - {', 'reference-lb: config: '],
    ['a head limit', { limits: { header_count: -1 }, listeners: [{ name: 'h', bind: '127.0.0.1:0', routes: [{ match: { prefix: '/' }, deny: true }] }] }, 'reference-lb: config: limits.header_count: '],
  ])('exits 2 with one stderr line on %s', async (_name, config, expected) => {
    const lb = run(['--config', writeConfig('bad.yaml', config)]);
    const { code } = await lb.exit;
    expect(code).toBe(2);
    const lines = lb.stderr().split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^reference-lb: /);
    expect(lines[0]).toContain(expected);
    expect(lb.lines).toEqual([]);
  });

  it('exits 2 when the config file is missing or the port is taken', async () => {
    const missing = run(['--config', path.join(dir, 'nope.yaml')]);
    expect((await missing.exit).code).toBe(2);
    expect(missing.stderr()).toMatch(/^reference-lb: config: cannot read ".*nope\.yaml": ENOENT\n$/);

    const taken = run(['--config', writeConfig('taken.yaml', { listeners: [{ name: 'h', bind: up.address, routes: [{ match: { prefix: '/' }, deny: true }] }] })]);
    expect((await taken.exit).code).toBe(2);
    expect(taken.stderr()).toBe(`reference-lb: listeners[0].bind: cannot listen on ${up.address}: EADDRINUSE\n`);
  });

  it('exits 2 on bad usage', async () => {
    const lb = run([]);
    expect((await lb.exit).code).toBe(2);
    expect(lb.stderr()).toMatch(/^reference-lb: required option '-c, --config <file>' not specified\n$/);
  });

  it('runs workers: 2 behind one ready line and stops them all on SIGTERM', async () => {
    const lb = run(['--config', writeConfig('workers.yaml', proxyConfig([up.address], { workers: 2 }))]);
    const ready = JSON.parse(await lb.nextLine()) as { listeners: Array<{ port: number }> };
    const port = ready.listeners[0]!.port;
    const results = await Promise.all(Array.from({ length: 20 }, () => sendRequest(port, '/w')));
    expect(results.every((r) => r.status === 200)).toBe(true);
    const started = Date.now();
    lb.child.kill('SIGTERM');
    expect((await lb.exit).code).toBe(0);
    expect(Date.now() - started).toBeLessThan(SHUTDOWN_BUDGET_MS);
    await expect(sendRequest(port, '/gone')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

/** Reads stdout lines until one parses to an object matching `test`. */
async function waitForLine(lb: Running, test: (e: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  for (;;) {
    const event = JSON.parse(await lb.nextLine()) as Record<string, unknown>;
    if (test(event)) return event;
  }
}

describe('main.ts failover', () => {
  const TOKEN = 'main-test-token';
  let a: CheckedUpstream;
  let b: CheckedUpstream;
  afterEach(async () => {
    await a?.close();
    await b?.close();
  });

  function failoverConfig(extra: Record<string, unknown> = {}) {
    return {
      upstreams: {
        api_pool: {
          keepalive: 4,
          health_check: { path: '/health', interval_ms: 50, timeout_ms: 2000, fall: 2, rise: 2 },
          servers: [
            { name: 'backend-api-1', address: a.address },
            { name: 'backend-api-2', address: b.address },
          ],
        },
      },
      listeners: [{ name: 'http', bind: '127.0.0.1:0', routes: [{ match: { prefix: '/' }, proxy: { upstream: 'api_pool' } }] }],
      admin: { bind: '127.0.0.1:0', token: TOKEN },
      ...extra,
    };
  }

  it.each([1, 2])('with workers: %i prints each server-state change once and every worker follows it', async (workers) => {
    a = await startCheckedUpstream();
    b = await startCheckedUpstream();
    const lb = run(['--config', writeConfig(`failover-${workers}.yaml`, failoverConfig({ workers }))]);
    const ready = JSON.parse(await lb.nextLine()) as { listeners: Array<{ port: number }>; admin: { host: string; port: number } };
    expect(ready.admin).toEqual({ host: '127.0.0.1', port: expect.any(Number) });
    const port = ready.listeners[0]!.port;
    const admin = ready.admin.port;

    a.health.status = 503;
    const down = await waitForLine(lb, (e) => e.event === 'server-state');
    expect(down).toEqual({
      event: 'server-state',
      upstream: 'api_pool',
      server: 'backend-api-1',
      address: a.address,
      from: 'up',
      to: 'down',
      reason: 'health check: status 503 (2/2)',
      atMs: expect.any(Number),
    });
    // New connections are spread over the workers; none of them may use the down server.
    const results = await Promise.all(Array.from({ length: 20 }, () => sendRequest(port, '/w')));
    expect(results.every((r) => r.status === 200 && r.body.startsWith(`${b.port} `))).toBe(true);
    expect(a.traffic()).toHaveLength(0);

    const view = await adminRequest(admin, 'GET', '/v1/upstreams', { token: TOKEN });
    expect(view.json.upstreams[0].servers.map((s: { state: string; requests: number }) => [s.state, s.requests])).toEqual([
      ['down', 0],
      ['up', 20],
    ]);

    // An admin change reaches every worker too.
    expect((await adminRequest(admin, 'POST', '/v1/upstreams/api_pool/servers/backend-api-2/state', { token: TOKEN, body: { state: 'maint' } })).status).toBe(200);
    expect(await waitForLine(lb, (e) => e.event === 'server-state')).toMatchObject({ server: 'backend-api-2', to: 'maint', reason: 'admin: maint' });
    const refused = await Promise.all(Array.from({ length: 10 }, () => sendRequest(port, '/w')));
    expect(refused.map((r) => r.status)).toEqual(Array(10).fill(503));

    a.health.status = 200;
    expect(await waitForLine(lb, (e) => e.event === 'server-state')).toMatchObject({ server: 'backend-api-1', from: 'down', to: 'up' });
    const back = await Promise.all(Array.from({ length: 10 }, () => sendRequest(port, '/w')));
    expect(back.every((r) => r.status === 200 && r.body.startsWith(`${a.port} `))).toBe(true);
    // Exactly one line per change: nothing else about server state was printed.
    lb.child.kill('SIGTERM');
    expect((await lb.exit).code).toBe(0);
    expect(lb.lines.filter((l) => l.includes('"server-state"'))).toEqual([]);
  });

  it('exits 2 when the admin port is taken', async () => {
    a = await startCheckedUpstream();
    b = await startCheckedUpstream();
    const lb = run(['--config', writeConfig('admin-taken.yaml', failoverConfig({ admin: { bind: up.address, token: TOKEN } }))]);
    expect((await lb.exit).code).toBe(2);
    expect(lb.stderr()).toBe(`reference-lb: admin.bind: cannot listen on ${up.address}: EADDRINUSE\n`);
  });
});


describe('main.ts maps', () => {
  const TOKEN = 'main-maps-token';
  const masters: TestUpstream[] = [];
  afterEach(async () => {
    for (const m of masters.splice(0)) await m.close();
  });

  it.each([1, 2])('with workers: %i every worker has a map change before the admin API answers, and it is printed once', async (workers) => {
    for (let i = 0; i < 2; i++) masters.push(await startTestUpstream());
    const mapFile = writeConfig(`node-master-${workers}.map`, 'node1.example.com master1\n');
    const lb = run([
      '--config',
      writeConfig(`maps-${workers}.yaml`, {
        workers,
        upstreams: { master1: { servers: [{ address: masters[0]!.address }] }, master2: { servers: [{ address: masters[1]!.address }] } },
        maps: { node_map: { file: path.basename(mapFile), default: 'master1' } },
        listeners: [{ name: 'gateway', bind: '127.0.0.1:0', routes: [{ match: { prefix: '/' }, proxy: { map: { name: 'node_map', key: 'header:X-Node-Name' } } }] }],
        admin: { bind: '127.0.0.1:0', token: TOKEN },
      }),
    ]);
    const ready = JSON.parse(await lb.nextLine()) as { listeners: Array<{ port: number }>; admin: { port: number } };
    const port = ready.listeners[0]!.port;
    const served = async (): Promise<number[]> => {
      // New connections: with workers: 2 the primary spreads them round robin over both workers.
      const res = await Promise.all(Array.from({ length: 10 }, () => sendRequest(port, '/', { headers: { 'X-Node-Name': 'node1.example.com' } })));
      return res.map((r) => masters.findIndex((m) => r.body.startsWith(`${m.port} `)) + 1);
    };
    expect(await served()).toEqual(Array(10).fill(1));
    const put = await adminRequest(ready.admin.port, 'PUT', '/v1/maps/node_map/entries/node1.example.com', { token: TOKEN, body: { value: 'master2' } });
    expect(put.status).toBe(200);
    expect(await waitForLine(lb, (e) => e.event === 'map-update')).toEqual({
      event: 'map-update',
      map: 'node_map',
      op: 'set',
      key: 'node1.example.com',
      value: 'master2',
      entries: 1,
      version: 1,
      atMs: expect.any(Number),
    });
    expect(await served()).toEqual(Array(10).fill(2));

    // Reload from the file, rewritten by the map updater; every worker follows the replace.
    writeFileSync(mapFile, 'node1.example.com master1\n');
    expect((await adminRequest(ready.admin.port, 'POST', '/v1/maps/node_map/reload', { token: TOKEN })).json).toMatchObject({ op: 'reload', version: 2 });
    expect(await served()).toEqual(Array(10).fill(1));
    lb.child.kill('SIGTERM');
    expect((await lb.exit).code).toBe(0);
    // The reload's line, once (by the primary), not once per worker.
    expect(lb.lines.filter((l) => l.includes('"map-update"'))).toHaveLength(1);
  });
});
