import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { LbEvent, ServerStateEvent, UpstreamErrorEvent } from './events.ts';
import { startLoadBalancer, type StartedLoadBalancer } from './start-load-balancer.ts';
import {
  deadAddress,
  EventLog,
  openWs,
  rawHeader,
  sendRequest,
  startCheckedUpstream,
  startWsUpstream,
  testConfig,
  type CheckedUpstream,
  type TestResponse,
  type WsUpstream,
} from './test-upstream.ts';

/*
 * The `sticky-ws` contract (HAProxy `cookie VEZA_SERVERID insert indirect nocache`) end
 * to end: real upstreams, a real LB, a plain node:http client carrying the cookie the
 * way a browser would.
 */

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

const COOKIE = 'VEZA_SERVERID';
const STICKY = { cookie: COOKIE, mode: 'insert', indirect: true, nocache: true };

async function checked(handler?: http.RequestListener): Promise<CheckedUpstream> {
  const u = await startCheckedUpstream(handler);
  cleanups.push(() => u.close());
  return u;
}

interface Started {
  lb: StartedLoadBalancer;
  port: number;
  log: EventLog<LbEvent>;
}

async function startLb(upstream: Record<string, unknown>): Promise<Started> {
  const config = testConfig({
    upstreams: { api_pool: { keepalive: 4, ...upstream } },
    timeouts: { connect_ms: 1000, read_ms: 5000 },
    listeners: [{ name: 'web', bind: '127.0.0.1:0', routes: [{ match: { prefix: '/' }, proxy: { upstream: 'api_pool' } }] }],
  });
  const log = new EventLog<LbEvent>();
  const lb = await startLoadBalancer(config, { onEvent: log.push });
  cleanups.push(() => lb.close());
  return { lb, port: lb.listeners[0]!.port, log };
}

function get(port: number, cookie?: string, options: { method?: string } = {}): Promise<TestResponse> {
  return sendRequest(port, '/x', { method: options.method ?? 'GET', headers: cookie === undefined ? {} : { cookie } });
}

/** All Set-Cookie values of a response. */
function setCookies(res: TestResponse): string[] {
  return res.headers['set-cookie'] ?? [];
}

function servedBy(res: TestResponse, up: { port: number }): boolean {
  return res.body.startsWith(`${up.port} `);
}

describe('sticky cookie (insert)', () => {
  it('pins a new client with Set-Cookie, sends it back to that server, and strips the cookie (indirect)', async () => {
    const a = await checked();
    const b = await checked();
    const { port } = await startLb({ sticky: STICKY, servers: [{ name: 'backend-api-1', address: a.address, cookie_value: 'api1' }, { name: 'backend-api-2', address: b.address, cookie_value: 'api2' }] });
    const first = await get(port);
    expect(servedBy(first, a)).toBe(true);
    expect(setCookies(first)).toEqual([`${COOKIE}=api1; path=/`]);
    expect(first.headers['cache-control']).toBe('private');

    // Round robin alone would alternate; the cookie keeps every request on api1.
    for (let i = 0; i < 4; i++) {
      const res = await get(port, `lang=fr; ${COOKIE}=api1;theme="dark blue"`);
      expect(servedBy(res, a)).toBe(true);
      expect(setCookies(res)).toEqual([]);
      expect(res.headers['cache-control']).toBeUndefined();
    }
    expect(rawHeader(a.traffic().at(-1)!.rawHeaders, 'cookie')).toBe('lang=fr;theme="dark blue"');
    // A Cookie header holding only the sticky cookie does not reach the upstream at all.
    expect(servedBy(await get(port, `${COOKIE}=api2`), b)).toBe(true);
    expect(rawHeader(b.traffic().at(-1)!.rawHeaders, 'cookie')).toBeUndefined();
    // A value naming no server is ignored: balanced, and pinned anew.
    const stale = await get(port, `${COOKIE}=api9`);
    expect(setCookies(stale)).toHaveLength(1);
    expect(setCookies(stale)[0]).toMatch(new RegExp(`^${COOKIE}=api[12]; path=/$`));
  });

  it('ignores a pin to a server that is down or in maint and pins anew, but honours it while the server drains', async () => {
    const a = await checked();
    const b = await checked();
    const { lb, port, log } = await startLb({
      sticky: STICKY,
      health_check: { path: '/health', interval_ms: 50, timeout_ms: 1000, fall: 2, rise: 2 },
      servers: [{ name: 'api1', address: a.address }, { name: 'api2', address: b.address }],
    });
    const pool = lb.pools.get('api_pool')!;
    const api1 = pool.servers[0]!;

    lb.monitor!.setAdminState(pool, api1, 'drain');
    const pinned = await get(port, `${COOKIE}=api1`);
    expect(servedBy(pinned, a)).toBe(true);
    expect(setCookies(pinned)).toEqual([]);
    // New clients stay away from the draining server.
    for (let i = 0; i < 3; i++) expect(setCookies(await get(port))).toEqual([`${COOKIE}=api2; path=/`]);

    lb.monitor!.setAdminState(pool, api1, 'maint');
    const moved = await get(port, `${COOKIE}=api1`);
    expect(servedBy(moved, b)).toBe(true);
    expect(setCookies(moved)).toEqual([`${COOKIE}=api2; path=/`]);

    lb.monitor!.setAdminState(pool, api1, 'ready');
    expect(servedBy(await get(port, `${COOKIE}=api1`), a)).toBe(true);
    a.health.status = 503;
    await log.waitFor((e) => e.event === 'server-state' && (e as ServerStateEvent).server === 'api1' && (e as ServerStateEvent).to === 'down', { what: 'api1 down' });
    const afterDown = await get(port, `${COOKIE}=api1`);
    expect(servedBy(afterDown, b)).toBe(true);
    expect(setCookies(afterDown)).toEqual([`${COOKIE}=api2; path=/`]);
  });

  it('re-pins a client whose pinned server refuses the connection (redispatch)', async () => {
    const b = await checked();
    const dead = await deadAddress();
    const { port, log } = await startLb({ sticky: STICKY, servers: [{ name: 'api1', address: dead }, { name: 'api2', address: b.address }] });
    const res = await get(port, `${COOKIE}=api1`);
    expect(servedBy(res, b)).toBe(true);
    expect(setCookies(res)).toEqual([`${COOKIE}=api2; path=/`]);
    const errors = log.all.filter((e): e is UpstreamErrorEvent => e.event === 'upstream-error');
    expect(errors).toEqual([expect.objectContaining({ code: 'LB_ERR_UPSTREAM_CONNECT', server: dead, retry: true })]);
  });

  it('passes the cookie through without indirect, and replaces a Set-Cookie of the same name from the upstream', async () => {
    const a = await checked((req, res) => {
      req.resume();
      res.setHeader('Set-Cookie', [`${COOKIE}=from-app; path=/`, 'other=1; path=/']);
      res.end('ok');
    });
    const { port } = await startLb({ sticky: { cookie: COOKIE }, servers: [{ name: 'api1', address: a.address }] });
    const first = await get(port);
    expect(setCookies(first)).toEqual(['other=1; path=/', `${COOKIE}=api1; path=/`]);
    // nocache is off by default.
    expect(first.headers['cache-control']).toBeUndefined();
    const again = await get(port, `a=1; ${COOKIE}=api1`);
    expect(setCookies(again)).toEqual(['other=1; path=/']);
    expect(rawHeader(a.traffic().at(-1)!.rawHeaders, 'cookie')).toBe(`a=1; ${COOKIE}=api1`);
  });

  it('with nocache, adds Cache-Control: private only where a shared cache could store the response', async () => {
    const a = await checked((req, res) => {
      req.resume();
      const url = new URL(req.url ?? '/', 'http://x');
      const cc = url.searchParams.get('cc');
      if (cc) res.setHeader('Cache-Control', cc);
      res.statusCode = Number(url.searchParams.get('status') ?? 200);
      res.end('ok');
    });
    const { port } = await startLb({ sticky: STICKY, servers: [{ name: 'api1', address: a.address }] });
    const cacheControl = async (path: string, method = 'GET'): Promise<string | string[] | undefined> => {
      const res = await sendRequest(port, path, { method });
      expect(setCookies(res)).toEqual([`${COOKIE}=api1; path=/`]);
      return res.rawHeaders.filter((_, i, raw) => i % 2 === 1 && raw[i - 1]!.toLowerCase() === 'cache-control');
    };
    expect(await cacheControl('/x')).toEqual(['private']);
    expect(await cacheControl('/x?cc=public%2C%20max-age%3D60')).toEqual(['public, max-age=60', 'private']);
    expect(await cacheControl('/x?cc=no-store')).toEqual(['no-store']);
    expect(await cacheControl('/x?cc=Private')).toEqual(['Private']);
    expect(await cacheControl('/x?status=500')).toEqual([]);
    expect(await cacheControl('/x', 'POST')).toEqual([]);
  });

  it('pins WebSocket upgrades too, and re-pins them after the pinned instance dies (the sticky-ws contract)', async () => {
    const ups: WsUpstream[] = [];
    for (let i = 0; i < 2; i++) {
      const u = await startWsUpstream();
      cleanups.push(() => u.close());
      ups.push(u);
    }
    const [a, b] = ups as [WsUpstream, WsUpstream];
    const { port, log } = await startLb({
      sticky: STICKY,
      health_check: { path: '/health', interval_ms: 50, timeout_ms: 1000, fall: 2, rise: 2 },
      on_marked_down: 'shutdown_sessions',
      servers: [{ name: 'backend-api-1', address: a.address, cookie_value: 'api1' }, { name: 'backend-api-2', address: b.address, cookie_value: 'api2' }],
    });
    // The user logs in over HTTP and is pinned...
    const login = await get(port);
    const pin = setCookies(login)[0]!.split(';')[0]!;
    expect(pin).toBe(`${COOKIE}=api1`);
    // ...so the WebSocket upgrade lands on the instance that authenticated them.
    for (let i = 0; i < 3; i++) {
      const client = await openWs(`ws://127.0.0.1:${port}/ws/chat`, { headers: { cookie: `session=abc; ${pin}` } });
      expect(client.hello.port).toBe(a.port);
      expect(client.response.headers['set-cookie']).toBeUndefined();
      expect(rawHeader(client.hello.rawHeaders, 'cookie')).toBe('session=abc');
      if (i < 2) {
        client.ws.close();
        await client.closed;
        continue;
      }
      // The instance dies: its tunnel is cut, and the reconnect with the dead pin is re-balanced and re-pinned.
      a.health.status = 503;
      expect(await client.closed).toBe(1006);
      await log.waitFor((e) => e.event === 'server-state' && (e as ServerStateEvent).to === 'down', { what: 'backend-api-1 down' });
    }
    const again = await openWs(`ws://127.0.0.1:${port}/ws/chat`, { headers: { cookie: `session=abc; ${pin}` } });
    expect(again.hello.port).toBe(b.port);
    expect(again.response.headers['set-cookie']).toEqual([`${COOKIE}=api2; path=/`]);
    expect(again.response.headers['cache-control']).toBeUndefined();
    again.ws.close();
    await again.closed;
  });
});
