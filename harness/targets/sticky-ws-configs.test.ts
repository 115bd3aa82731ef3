import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parse as parseYaml } from 'yaml';
import { startBackend, type BackendWsHello, type BackendWsMessage, type StartedBackend } from '../../fixtures/backend/index.ts';
import { apacheDialect } from './apache/apache-config.ts';
import type { ConfigDialect, PoolHealth, RenderedConfig } from './config-plan.ts';
import { haproxyDialect } from './haproxy/haproxy-config.ts';
import { eventually, freePort, makeCertificate, startProxy } from './live-proxy-kit.ts';
import { nginxDialect, nginxGlobalDirectives, nginxTempDirs } from './nginx/nginx-config.ts';

/*
 * The bundled configs of the sticky-ws profile (seeds 001 and 004): each one read, rendered
 * at time scale 0.1 and run under the real proxy against fixture backends that speak
 * WebSocket. Proves the routing contract of the three pools, the sticky cookie, WebSocket
 * upgrades on /ws/ and /api/v1/ws, and that an idle WebSocket outlives the 3 s HTTP
 * timeouts only because of its tunnel timeout (the same config without it cuts the socket).
 * The broken configs are checked to load and to differ from the bundled one as their first
 * line says; what they do to the checks is proven by the profile's end-to-end run.
 */

const DIR = fileURLToPath(new URL('../../fixtures/configs/sticky-ws/', import.meta.url));
const PROFILE = fileURLToPath(new URL('../../scenarios/profiles/sticky-ws.yaml', import.meta.url));
const TIME_SCALE = 0.1;
const HOST = 'veza.example.com';
const COOKIE = 'VEZA_SERVERID';
/** The idle gap of a --quick run; the bundled HTTP timeouts (3 s) are shorter on purpose. */
const IDLE_MS = 5000;
/** A socket held only by the 3 s HTTP timeouts is cut within this window after its hello. */
const CUT_AFTER_MS = { min: 2500, max: 4500 };
const WAIT_MS = 5000;
/** Client addresses in distinct /24s: nginx's ip_hash keys on the first three octets of an IPv4 address. */
const SOURCES = [91, 92, 93, 94, 95, 96].map((n) => `127.0.${n}.7`);

interface Server {
  id: string;
  address: string;
  pool: 'api_pool' | 'stream_pool' | 'ws_pool';
  /** HAProxy `cookie` value / Apache `route`. */
  route?: string;
}

/** The topology, the same in every bundled config; each server gets its own loopback host. */
const SERVERS: Server[] = [
  { id: 'backend-api-1', address: '10.0.0.11:8080', pool: 'api_pool', route: 'api1' },
  { id: 'backend-api-2', address: '10.0.0.12:8080', pool: 'api_pool', route: 'api2' },
  { id: 'stream-srv-1', address: '10.0.0.21:8082', pool: 'stream_pool' },
  { id: 'stream-srv-2', address: '10.0.0.22:8082', pool: 'stream_pool' },
  { id: 'stream-srv-3', address: '10.0.0.23:8082', pool: 'stream_pool' },
  { id: 'stream-srv-4', address: '10.0.0.24:8082', pool: 'stream_pool' },
  { id: 'ws-srv-1', address: '10.0.0.31:8000', pool: 'ws_pool' },
  { id: 'ws-srv-2', address: '10.0.0.32:8000', pool: 'ws_pool' },
  { id: 'ws-srv-3', address: '10.0.0.33:8000', pool: 'ws_pool' },
];
const HEALTH_PATH: Record<Server['pool'], string> = { api_pool: '/api/v1/health', stream_pool: '/health', ws_pool: '/health' };
const ids = (pool: Server['pool']): string[] => SERVERS.filter((s) => s.pool === pool).map((s) => s.id);


let dir: string;
const backends = new Map<string, StartedBackend>();
const sockets: WebSocket[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lbdrill-sticky-ws-'));
  chmodSync(dir, 0o755);
  for (const s of SERVERS) {
    const host = `127.0.31.${s.address.split(':')[0]!.split('.')[3]}`;
    backends.set(s.address, await startBackend({ id: s.id, host, port: 0, healthPaths: ['/health', '/api/v1/health'] }));
  }
});
afterAll(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await Promise.all([...backends.values()].map((b) => b.close()));
  rmSync(dir, { recursive: true, force: true });
});

function backendOf(id: string): StartedBackend {
  return [...backends.values()].find((b) => b.id === id) as StartedBackend;
}

// ---- clients ----

interface Reply {
  status: number;
  backend: string | undefined;
  setCookie: string[];
}

/** One request on a new connection, as a browser at `HOST` would send it. */
function send(port: number, path: string, headers: Record<string, string> = {}, localAddress?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers: { host: HOST, ...headers }, timeout: WAIT_MS, ...(localAddress ? { localAddress } : {}) }, (res) => {
      res.resume();
      res.on('end', () => {
        const backend = res.headers['x-lbdrill-backend'];
        resolve({ status: res.statusCode ?? 0, backend: typeof backend === 'string' ? backend : undefined, setCookie: res.headers['set-cookie'] ?? [] });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout on ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

/** The value of the sticky cookie in a Set-Cookie list, or undefined. */
function stickyCookie(setCookie: readonly string[]): string | undefined {
  for (const line of setCookie) {
    const [name, ...value] = (line.split(';', 1)[0] ?? '').split('=');
    if (name?.trim() === COOKIE) return value.join('=').trim();
  }
  return undefined;
}

interface TestSocket {
  ws: WebSocket;
  hello: BackendWsHello;
  upgrade: IncomingHttpHeaders;
  messages: BackendWsMessage[];
  helloAtMs: number;
  /** set when the socket closed. */
  closedAtMs?: number;
}

/** A WebSocket through the proxy, resolved on the backend's hello. */
async function openSocket(port: number, path: string, opts: { cookie?: string; localAddress?: string } = {}): Promise<TestSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, {
    headers: { host: HOST, ...(opts.cookie ? { cookie: opts.cookie } : {}) },
    perMessageDeflate: false,
    ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
  });
  sockets.push(ws);
  const messages: BackendWsMessage[] = [];
  let upgrade: IncomingHttpHeaders = {};
  ws.on('upgrade', (res) => (upgrade = res.headers));
  ws.on('message', (data) => messages.push(JSON.parse(String(data)) as BackendWsMessage));
  const socket = await new Promise<TestSocket>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no hello on ${path} within ${WAIT_MS} ms`)), WAIT_MS);
    ws.on('error', (err) => reject(err));
    ws.on('unexpected-response', (_req, res) => reject(new Error(`upgrade on ${path} answered ${res.statusCode}`)));
    ws.on('message', () => {
      const hello = messages.find((m): m is BackendWsHello => m.type === 'hello');
      if (hello === undefined) return;
      clearTimeout(timer);
      resolve({ ws, hello, upgrade, messages, helloAtMs: Date.now() });
    });
  });
  ws.once('close', () => (socket.closedAtMs = Date.now()));
  return socket;
}

/** Sends a text message and waits for its echo. */
async function echoes(socket: TestSocket, text: string): Promise<boolean> {
  if (socket.ws.readyState !== WebSocket.OPEN) return false;
  socket.ws.send(text);
  const signal = AbortSignal.timeout(WAIT_MS);
  try {
    while (!socket.messages.some((m) => m.type === 'echo' && m.data === text)) await once(socket.ws, 'message', { signal });
    return true;
  } catch {
    return false;
  }
}

// ---- targets ----

interface Target {
  name: 'haproxy' | 'nginx' | 'apache';
  binary: string;
  file: string;
  dialect: ConfigDialect;
  /** The sticky cookie the LB sets for a server route, or null when it sets none (nginx OSS). */
  cookieFor: ((route: string) => string) | null;
  /** The backend still receives the sticky cookie (HAProxy's `indirect` strips it). */
  cookieReachesBackend: boolean;
  /** The 101 of an upgrade without the cookie sets it. */
  cookieOnUpgrade: boolean;
  uriHash: boolean;
  sourceAffinity: boolean;
  activeChecks: boolean;
  pools: PoolHealth[];
  /** The bundled source with every long WebSocket timeout taken out. */
  withoutTunnelTimeout(source: string): string;
}

/** `source` with every occurrence of `text` removed; there must be exactly `count`. */
function without(source: string, text: string, count: number): string {
  expect(source.split(text).length - 1, `occurrences of ${JSON.stringify(text)}`).toBe(count);
  return source.split(text).join('');
}

const CHECKS = { intervalMs: 5000, fall: 3, rise: 2 };
const POOLS = ['api_pool', 'stream_pool', 'ws_pool'] as const;
/** Where each bundled config configures a pool's check: HAProxy's `option httpchk` lines, Apache's first member of each balancer. */
const HAPROXY_CHECK_LINE: Record<Server['pool'], number> = { api_pool: 48, stream_pool: 62, ws_pool: 74 };
const APACHE_CHECK_AT: Record<Server['pool'], { text: string; line: number }> = {
  api_pool: { text: 'BalancerMember "http://10.0.0.11:8080" route=api1 upgrade=websocket timeout=3600 hcmethod=GET hcuri=/api/v1/health hcinterval=5 hcfails=3 hcpasses=2 retry=10', line: 36 },
  stream_pool: { text: 'BalancerMember "http://10.0.0.21:8082" hcmethod=GET hcuri=/health hcinterval=5 hcfails=3 hcpasses=2 retry=10', line: 42 },
  ws_pool: { text: 'BalancerMember "http://10.0.0.31:8000" upgrade=websocket timeout=3600 hcmethod=GET hcuri=/health hcinterval=5 hcfails=3 hcpasses=2 retry=10', line: 51 },
};
/** The long WebSocket timeouts of the bundled configs; stream_pool has only the 3 s HTTP ones on nginx and Apache. */
const HOUR_MS = 3_600_000;
const HTTP_TIMEOUT_MS = 3000;

const TARGETS: Target[] = [
  {
    name: 'haproxy',
    binary: 'haproxy',
    file: 'haproxy.cfg',
    dialect: haproxyDialect,
    cookieFor: (route) => route,
    cookieReachesBackend: false,
    cookieOnUpgrade: true,
    uriHash: true,
    sourceAffinity: true,
    activeChecks: true,
    pools: POOLS.map((pool) => ({
      pool,
      active: { method: 'GET', path: HEALTH_PATH[pool], expectStatus: { min: 200, max: 200 }, ...CHECKS, at: { text: `option httpchk GET ${HEALTH_PATH[pool]}`, line: HAPROXY_CHECK_LINE[pool] } },
      shutdownSessions: true,
      redispatch: true,
      ...(pool === 'api_pool' ? { cookie: { name: COOKIE, mode: 'insert' as const, indirect: true, at: { text: 'cookie VEZA_SERVERID insert indirect nocache', line: 52 } } } : {}),
      // `timeout tunnel 1h` in the defaults
      tunnelTimeoutMs: HOUR_MS,
    })),
    withoutTunnelTimeout: (source) => without(source, '    timeout tunnel 1h\n', 1),
  },
  {
    name: 'nginx',
    binary: 'nginx',
    file: 'nginx.conf',
    dialect: nginxDialect,
    cookieFor: null,
    cookieReachesBackend: true,
    cookieOnUpgrade: false,
    uriHash: true,
    sourceAffinity: true,
    activeChecks: false,
    pools: POOLS.map((pool) => ({
      pool,
      passive: { maxFails: 3, failTimeoutMs: 10_000 },
      redispatch: true,
      ...(pool === 'api_pool' ? { cookie: { name: COOKIE, mode: 'honour' as const, indirect: false, at: { text: 'hash $cookie_VEZA_SERVERID consistent;', line: 19 } } } : {}),
      // the longest proxy_read_timeout of the locations proxying to the pool
      tunnelTimeoutMs: pool === 'stream_pool' ? HTTP_TIMEOUT_MS : HOUR_MS,
    })),
    withoutTunnelTimeout: (source) => without(source, '        proxy_read_timeout 1h;\n        proxy_send_timeout 1h;\n', 2),
  },
  {
    name: 'apache',
    binary: 'apache2',
    file: 'apache.conf',
    dialect: apacheDialect,
    // mod_proxy_balancer reads the route after the first '.'.
    cookieFor: (route) => `.${route}`,
    cookieReachesBackend: true,
    // The 101 leaves without mod_headers' output filter: no cookie on an upgrade.
    cookieOnUpgrade: false,
    uriHash: false,
    sourceAffinity: false,
    activeChecks: true,
    pools: POOLS.map((pool) => ({
      pool,
      active: { method: 'GET', path: HEALTH_PATH[pool], ...CHECKS, at: APACHE_CHECK_AT[pool] },
      passive: { maxFails: 1, failTimeoutMs: 10_000 },
      redispatch: true,
      // Apache sets the cookie itself (Header add Set-Cookie ... env=BALANCER_ROUTE_CHANGED), and cannot hide it from the backend
      ...(pool === 'api_pool' ? { cookie: { name: COOKIE, mode: 'insert' as const, indirect: false, at: { text: 'ProxySet lbmethod=byrequests stickysession=VEZA_SERVERID failonstatus=502,503,504', line: 38 } } } : {}),
      // member timeout=3600 over Timeout 3; stream_pool: ProxyTimeout 3
      tunnelTimeoutMs: pool === 'stream_pool' ? HTTP_TIMEOUT_MS : HOUR_MS,
    })),
    withoutTunnelTimeout: (source) => without(source, 'timeout=3600 ', 5),
  },
];

interface Launched {
  port: number;
  rendered: RenderedConfig;
  stop(): Promise<void>;
}

/** Renders `source` at time scale 0.1, has the proxy check it, and starts it. */
async function launch(target: Target, source: string, label: string): Promise<Launched> {
  const runDir = join(dir, `${target.name}-${label}`);
  mkdirSync(runDir, { recursive: true });
  chmodSync(runDir, 0o755);
  const analysis = target.dialect.analyze(source, target.file);
  expect(analysis.listeners.map((l) => l.port)).toEqual([80]);
  const port = await freePort();
  const rendered = target.dialect.render(source, target.file, analysis, {
    runDir,
    upstreams: new Map(analysis.upstreams.map((u) => [u.address, (backends.get(u.address) as StartedBackend).address])),
    ports: new Map([[80, port]]),
    tls: makeCertificate(runDir),
    timeScale: TIME_SCALE,
    ...(target.name === 'haproxy' ? { runtimeSocket: join(runDir, 'admin.sock') } : {}),
  });
  for (const [name, text] of Object.entries(rendered.files)) writeFileSync(join(runDir, name), text);
  const main = join(runDir, rendered.main);
  let check: string[];
  let run: string[];
  let valid: string;
  // Apache: no APACHE_* environment, the generated Defines must be enough.
  const env = target.name === 'apache' ? { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' } : undefined;
  if (target.name === 'haproxy') {
    check = ['-c', '-f', main];
    run = ['-f', main, '-db'];
    valid = 'Configuration file is valid';
  } else if (target.name === 'nginx') {
    for (const d of nginxTempDirs(runDir)) mkdirSync(d, { recursive: true });
    const args = ['-p', runDir, '-c', main, '-g', nginxGlobalDirectives(analysis, runDir)];
    check = ['-t', ...args];
    run = args;
    valid = 'test is successful';
  } else {
    const args = ['-d', '/etc/apache2', '-f', main];
    check = ['-t', ...args];
    run = [...args, '-DFOREGROUND'];
    valid = 'Syntax OK';
  }
  const checked = spawnSync(target.binary, check, { encoding: 'utf8', ...(env ? { env } : {}) });
  expect(checked.stdout + checked.stderr).toContain(valid);
  const proxy = await startProxy(target.binary, run, port, env);
  return { port, rendered, stop: () => proxy.stop() };
}

// ---- what the bundled configs say ----

describe('sticky-ws bundled configs: what each dialect reads', () => {
  for (const target of TARGETS) {
    it(`${target.file}: the three pools with their servers, listener :80, health settings as written`, () => {
      const analysis = target.dialect.analyze(readFileSync(join(DIR, target.file), 'utf8'), target.file);
      expect(analysis.upstreams.map((u) => `${u.pool} ${u.address}${u.backup ? ' backup' : ''}`)).toEqual(SERVERS.map((s) => `${s.pool} ${s.address}`));
      expect(analysis.listeners.map((l) => l.port)).toEqual([80]);
      expect(analysis.pools).toEqual(target.pools);
      // HAProxy `cookie api1` / Apache `route=api1`; nginx has no per-server cookie value
      expect(analysis.upstreams.map((u) => u.cookieValue)).toEqual(SERVERS.map((s) => (target.cookieFor === null ? undefined : s.route)));
    });
  }
});

// ---- the bundled configs under the real proxies ----

for (const target of TARGETS) {
  describe(`sticky-ws ${target.file} under the real ${target.name}, time scale 0.1`, () => {
    it('routes the three pools, pins by cookie, upgrades WebSockets on /ws/ and /api/v1/ws, and keeps an idle one open only by its tunnel timeout', async () => {
      // The previous target's last health checks may still be in flight: records start once
      // every connection it held to a backend is closed (the backend has read all it sent).
      await eventually(async () => {
        const held = [...backends.values()].filter((b) => b.openConnections > 0).map((b) => b.id);
        if (held.length > 0) throw new Error(`connections still open at ${held.join(', ')}`);
      }, WAIT_MS);
      for (const b of backends.values()) b.clearRecords();
      const source = readFileSync(join(DIR, target.file), 'utf8');
      const bareSource = target.withoutTunnelTimeout(source);
      const started: Launched[] = [];
      try {
        const bundled = await launch(target, source, 'bundled');
        started.push(bundled);
        const bare = await launch(target, bareSource, 'no-tunnel-timeout');
        started.push(bare);
        // Idle from the start; the rest of the test runs during the gap.
        const idle = [await openSocket(bundled.port, '/ws/idle'), await openSocket(bundled.port, '/api/v1/ws')];
        const cut = [await openSocket(bare.port, '/ws/idle'), await openSocket(bare.port, '/api/v1/ws')];
        const idleSince = Math.max(...[...idle, ...cut].map((s) => s.helloAtMs));
        expect(ids('ws_pool')).toContain(idle[0]?.hello.backend);
        expect(ids('api_pool')).toContain(idle[1]?.hello.backend);

        await expectStreamPool(target, bundled.port);
        await expectWsPool(target, bundled.port);
        await expectApiPool(target, bundled.port);
        if (target.activeChecks) await expectHealthChecks();
        else for (const b of backends.values()) expect(b.requests.filter((r) => r.health)).toEqual([]);

        const left = idleSince + IDLE_MS + 500 - Date.now();
        if (left > 0) await new Promise((r) => setTimeout(r, left));
        for (const s of idle) {
          expect(s.closedAtMs, `${s.hello.path} closed after ${(s.closedAtMs ?? 0) - s.helloAtMs} ms idle`).toBeUndefined();
          expect(await echoes(s, 'after the idle gap'), `${s.hello.path} echoes after ${IDLE_MS} ms idle`).toBe(true);
        }
        // Without the tunnel timeout the 3 s HTTP timeouts cut the same sockets: the idle check is meaningful.
        for (const s of cut) {
          expect(s.closedAtMs, `${s.hello.path} without its tunnel timeout`).toBeDefined();
          expect((s.closedAtMs as number) - s.helloAtMs).toBeGreaterThanOrEqual(CUT_AFTER_MS.min);
          expect((s.closedAtMs as number) - s.helloAtMs).toBeLessThanOrEqual(CUT_AFTER_MS.max);
        }
      } finally {
        for (const ws of sockets.splice(0)) ws.terminate();
        for (const proxy of started) await proxy.stop();
      }
    });
  });
}

/** /stream/ reaches the stream pool only; with a URI hash one track stays on one server and tracks spread. */
async function expectStreamPool(target: Target, port: number): Promise<void> {
  const track = [];
  for (let i = 0; i < 4; i++) track.push((await send(port, '/stream/track-42/segment-1.ts')).backend);
  const tracks = [];
  for (let i = 0; i < 16; i++) tracks.push((await send(port, `/stream/track-${i}/segment-1.ts`)).backend);
  for (const b of [...track, ...tracks]) expect(ids('stream_pool')).toContain(b);
  if (target.uriHash) expect(new Set(track).size).toBe(1);
  expect(new Set(tracks).size).toBeGreaterThanOrEqual(2);
}

/** /ws/ (HTTP and WebSocket) reaches the ws pool only; with source affinity each client address stays on one server. */
async function expectWsPool(target: Target, port: number): Promise<void> {
  const used = new Set<string | undefined>();
  for (const source of SOURCES) {
    const http = [(await send(port, '/ws/ping', {}, source)).backend, (await send(port, '/ws/ping?again=1', {}, source)).backend];
    const socket = await openSocket(port, '/ws/x?room=1', { localAddress: source });
    expect(socket.hello.path).toBe('/ws/x?room=1');
    const seen = [...http, socket.hello.backend];
    for (const b of seen) expect(ids('ws_pool')).toContain(b);
    if (target.sourceAffinity) expect(new Set(seen).size, `${source}: ${seen.join(', ')}`).toBe(1);
    used.add(http[0]);
    socket.ws.terminate();
  }
  if (target.sourceAffinity) expect(used.size).toBeGreaterThanOrEqual(2);
}

/**
 * Everything else reaches the api pool. Where the LB sets the sticky cookie, the first
 * answer carries the route of the server that gave it; requests and the /api/v1/ws upgrade
 * carrying it stay there. nginx OSS sets none: a value of the client's own is hashed.
 */
async function expectApiPool(target: Target, port: number): Promise<void> {
  const first = [await send(port, '/'), await send(port, '/api/v1/tracks?page=2')];
  expect(new Set(first.map((r) => r.backend))).toEqual(new Set(ids('api_pool')));
  const pins: Array<{ cookie: string; backend: string }> = [];
  if (target.cookieFor !== null) {
    for (const r of first) {
      const route = SERVERS.find((s) => s.id === r.backend)?.route as string;
      expect(stickyCookie(r.setCookie), `Set-Cookie ${JSON.stringify(r.setCookie)}`).toBe(target.cookieFor(route));
      pins.push({ cookie: target.cookieFor(route), backend: r.backend as string });
    }
  } else {
    for (const r of first) expect(stickyCookie(r.setCookie)).toBeUndefined();
    // Values of the client's own: the hash spreads them, and each one sticks.
    for (let i = 0; i < 8; i++) {
      const cookie = `lbdrill-user-${i}`;
      pins.push({ cookie, backend: (await send(port, '/api/v1/ping', { cookie: `${COOKIE}=${cookie}` })).backend as string });
    }
    expect(new Set(pins.map((p) => p.backend))).toEqual(new Set(ids('api_pool')));
  }
  for (const [n, pin] of pins.entries()) {
    for (let i = 0; i < 4; i++) {
      const id = `sticky-${n}-${i}`;
      const reply = await send(port, `/api/v1/ping?pin=${n}&i=${i}`, { 'x-lbdrill-id': id, cookie: `session=abc; ${COOKIE}=${pin.cookie}; theme=dark` });
      expect(reply.backend, `request ${i} with ${COOKIE}=${pin.cookie}`).toBe(pin.backend);
      const seen = backendOf(pin.backend).requests.find((r) => r.lbdrillId === id)?.headers['cookie'];
      expect(seen).toBe(target.cookieReachesBackend ? `session=abc; ${COOKIE}=${pin.cookie}; theme=dark` : 'session=abc; theme=dark');
    }
    const socket = await openSocket(port, '/api/v1/ws', { cookie: `${COOKIE}=${pin.cookie}` });
    expect(socket.hello.backend, `upgrade with ${COOKIE}=${pin.cookie}`).toBe(pin.backend);
    socket.ws.terminate();
  }
  const fresh = await openSocket(port, '/api/v1/ws?first=1');
  expect(ids('api_pool')).toContain(fresh.hello.backend);
  const route = SERVERS.find((s) => s.id === fresh.hello.backend)?.route as string;
  const upgradeCookie = stickyCookie(([] as string[]).concat(fresh.upgrade['set-cookie'] ?? []));
  expect(upgradeCookie).toBe(target.cookieOnUpgrade && target.cookieFor !== null ? target.cookieFor(route) : undefined);
  fresh.ws.terminate();
}

/** Every server gets GET checks on its own pool's health path, and none on the other's. */
async function expectHealthChecks(): Promise<void> {
  const checks = (s: Server, path: string) => backendOf(s.id).requests.filter((r) => r.health && r.rawPath === path);
  await eventually(async () => {
    for (const s of SERVERS) if (checks(s, HEALTH_PATH[s.pool]).length < 2) throw new Error(`${s.id}: ${checks(s, HEALTH_PATH[s.pool]).length} checks`);
  }, WAIT_MS);
  for (const s of SERVERS) {
    expect(checks(s, HEALTH_PATH[s.pool]).every((r) => r.method === 'GET')).toBe(true);
    expect(checks(s, s.pool === 'api_pool' ? '/health' : '/api/v1/health')).toEqual([]);
  }
}

// ---- broken configs ----

/** Each directive with the lines that enclose it (by indentation); comments, blank lines and lone braces left out. */
function directives(text: string): string[] {
  const stack: Array<{ indent: number; line: string }> = [];
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line === '}') continue;
    const indent = raw.length - raw.trimStart().length;
    while (stack.length > 0 && (stack[stack.length - 1] as { indent: number }).indent >= indent) stack.pop();
    out.push([...stack.map((s) => s.line), line].join(' > '));
    stack.push({ indent, line });
  }
  return out;
}

/** Directives only in `a` (removed) and only in `b` (added), counted as multisets. */
function difference(a: string[], b: string[]): { removed: string[]; added: string[] } {
  const left = [...b];
  const removed: string[] = [];
  for (const line of a) {
    const at = left.indexOf(line);
    if (at < 0) removed.push(line);
    else left.splice(at, 1);
  }
  return { removed: removed.sort(), added: left.sort() };
}

const API = 'backend api_pool';
const NGINX_WS = 'server { > location /ws/ {';
const NGINX_API_WS = 'server { > location /api/v1/ws {';

/** What each broken file changes, as directives with their section. */
const BROKEN: Record<string, { removed: string[]; added: string[] }> = {
  'haproxy/sticky.cookie-inserted.cfg': {
    removed: [`${API} > cookie VEZA_SERVERID insert indirect nocache`, `${API} > server backend-api-1 10.0.0.11:8080 cookie api1`, `${API} > server backend-api-2 10.0.0.12:8080 cookie api2`],
    added: [`${API} > server backend-api-1 10.0.0.11:8080`, `${API} > server backend-api-2 10.0.0.12:8080`],
  },
  'haproxy/sticky.cookie-inserted~indirect.cfg': {
    removed: [`${API} > cookie VEZA_SERVERID insert indirect nocache`],
    added: [`${API} > cookie VEZA_SERVERID insert nocache`],
  },
  'haproxy/sticky.cookie-honoured.cfg': {
    removed: [],
    added: [`${API} > ignore-persist if { req.cook(VEZA_SERVERID) -m found } !{ req.hdr(upgrade) -i websocket }`],
  },
  'haproxy/sticky.ws-same-backend.cfg': {
    removed: [],
    added: [
      'frontend http_in > use_backend api_ws if { req.hdr(upgrade) -i websocket }',
      'backend api_ws',
      'backend api_ws > balance source',
      'backend api_ws > option httpchk GET /api/v1/health',
      'backend api_ws > http-check expect status 200',
      'backend api_ws > default-server check inter 5s fall 3 rise 2 on-marked-down shutdown-sessions',
      'backend api_ws > server backend-api-1 10.0.0.11:8080',
      'backend api_ws > server backend-api-2 10.0.0.12:8080',
    ].sort(),
  },
  'haproxy/sticky.cookie-honoured~balance-source.cfg': {
    removed: [`${API} > balance roundrobin`, `${API} > cookie VEZA_SERVERID insert indirect nocache`, `${API} > server backend-api-1 10.0.0.11:8080 cookie api1`, `${API} > server backend-api-2 10.0.0.12:8080 cookie api2`],
    added: [`${API} > balance source`, `${API} > server backend-api-1 10.0.0.11:8080`, `${API} > server backend-api-2 10.0.0.12:8080`],
  },
  'haproxy/sticky.dead-pin-rebalanced.cfg': { removed: ['defaults > option redispatch'], added: ['defaults > option persist'] },
  'haproxy/sticky.ws-reconnect-after-failover.cfg': {
    removed: [`${API} > default-server check inter 5s fall 3 rise 2 on-marked-down shutdown-sessions`],
    added: [`${API} > default-server check inter 5s fall 3 rise 2`],
  },
  'haproxy/hash.uri-consistent.cfg': { removed: ['backend stream_pool > hash-type consistent'], added: ['backend stream_pool > hash-type map-based'] },
  'haproxy/ws.idle-survives.cfg': { removed: ['defaults > timeout tunnel 1h'], added: ['defaults > timeout tunnel 4s'] },
  'haproxy/affinity.source-ip.cfg': {
    removed: ['backend ws_pool > balance source', 'backend ws_pool > hash-type consistent'],
    added: ['backend ws_pool > balance roundrobin'],
  },
  'nginx/affinity.source-ip.conf': { removed: ['upstream ws_pool { > ip_hash;'], added: [] },
  'nginx/sticky.cookie-honoured~ip-hash.conf': { removed: ['upstream api_pool { > hash $cookie_VEZA_SERVERID consistent;'], added: ['upstream api_pool { > ip_hash;'] },
  'nginx/hash.uri-consistent.conf': { removed: ['upstream stream_pool { > hash $request_uri consistent;'], added: ['upstream stream_pool { > hash $request_uri;'] },
  'nginx/ws.idle-survives.conf': {
    removed: [`${NGINX_API_WS} > proxy_read_timeout 1h;`, `${NGINX_API_WS} > proxy_send_timeout 1h;`, `${NGINX_WS} > proxy_read_timeout 1h;`, `${NGINX_WS} > proxy_send_timeout 1h;`],
    added: [`${NGINX_API_WS} > proxy_read_timeout 4s;`, `${NGINX_API_WS} > proxy_send_timeout 4s;`, `${NGINX_WS} > proxy_read_timeout 4s;`, `${NGINX_WS} > proxy_send_timeout 4s;`],
  },
};

/** The HAProxy and nginx ones; the reference LB's are another suite's. */
const brokenFiles = ['haproxy', 'nginx'].flatMap((t) => readdirSync(join(DIR, 'broken', t)).map((f) => `${t}/${f}`));

describe('sticky-ws broken configs', () => {
  it('one expectation per file; each names a check of the profile (<check-id>[~variant]) on its first line', () => {
    expect(brokenFiles.sort()).toEqual(Object.keys(BROKEN).sort());
    const checks = (parseYaml(readFileSync(PROFILE, 'utf8')) as { checks: Array<{ id: string }> }).checks.map((c) => c.id);
    for (const file of brokenFiles) {
      const check = (file.split('/')[1] as string).replace(/\.(cfg|conf)$/, '').replace(/~.*$/, '');
      expect(checks, file).toContain(check);
      expect(readFileSync(join(DIR, 'broken', file), 'utf8').split('\n')[0]).toMatch(new RegExp(`^# BROKEN for ${check.replace(/\./g, '\\.')}: \\S`));
    }
  });

  for (const file of brokenFiles) {
    const target = TARGETS.find((t) => t.name === file.split('/')[0]) as Target;
    it(`${file} differs from ${target.file} only as intended`, () => {
      const bundled = readFileSync(join(DIR, target.file), 'utf8');
      const broken = readFileSync(join(DIR, 'broken', file), 'utf8');
      expect(difference(directives(bundled), directives(broken))).toEqual(BROKEN[file]);
    });
    it(`${file} is accepted by ${target.name} once rendered`, async () => {
      const source = readFileSync(join(DIR, 'broken', file), 'utf8');
      const runDir = join(dir, `broken-${file.replace(/\W/g, '_')}`);
      mkdirSync(runDir, { recursive: true });
      const analysis = target.dialect.analyze(source, file);
      const rendered = target.dialect.render(source, file, analysis, {
        runDir,
        upstreams: new Map(analysis.upstreams.map((u) => [u.address, (backends.get(u.address) as StartedBackend).address])),
        ports: new Map([[80, await freePort()]]),
        tls: makeCertificate(runDir),
        timeScale: TIME_SCALE,
        ...(target.name === 'haproxy' ? { runtimeSocket: join(runDir, 'admin.sock') } : {}),
      });
      for (const [name, text] of Object.entries(rendered.files)) writeFileSync(join(runDir, name), text);
      const main = join(runDir, rendered.main);
      const args =
        target.name === 'haproxy' ? ['-c', '-f', main] : ['-t', '-p', runDir, '-c', main, '-g', nginxGlobalDirectives(analysis, runDir)];
      if (target.name === 'nginx') for (const d of nginxTempDirs(runDir)) mkdirSync(d, { recursive: true });
      const checked = spawnSync(target.binary, args, { encoding: 'utf8' });
      expect(checked.stdout + checked.stderr).toContain(target.name === 'haproxy' ? 'Configuration file is valid' : 'test is successful');
      // The check must be clean, not a pass with warnings that hide a dropped line.
      expect(checked.stdout + checked.stderr).not.toMatch(/\[WARNING\]|\[warn\]/);
    });
  }
});
