import http from 'node:http';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import type { LbEvent, ServerStateEvent } from './events.ts';
import { startLoadBalancer, type StartedLoadBalancer } from './start-load-balancer.ts';
import { adminRequest, EventLog, sendRequest, startCheckedUpstream, testConfig, type CheckedUpstream } from './test-upstream.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

const TOKEN = 'test-admin-token-1';

async function checked(handler?: http.RequestListener): Promise<CheckedUpstream> {
  const u = await startCheckedUpstream(handler);
  cleanups.push(() => u.close());
  return u;
}

interface Started {
  lb: StartedLoadBalancer;
  port: number;
  admin: number;
  log: EventLog<LbEvent>;
}

async function startLb(servers: Array<Record<string, unknown>>, upstream: Record<string, unknown> = {}): Promise<Started> {
  const config = testConfig({
    upstreams: { api_pool: { keepalive: 4, servers, ...upstream } },
    listeners: [{ name: 'web', bind: '127.0.0.1:0', routes: [{ match: { prefix: '/' }, proxy: { upstream: 'api_pool' } }] }],
    admin: { bind: '127.0.0.1:0', token: TOKEN },
  });
  const log = new EventLog<LbEvent>();
  const lb = await startLoadBalancer(config, { onEvent: log.push });
  cleanups.push(() => lb.close());
  return { lb, port: lb.listeners[0]!.port, admin: lb.admin!.port, log };
}

async function two(): Promise<{ a: CheckedUpstream; b: CheckedUpstream; started: Started }> {
  const a = await checked();
  const b = await checked();
  const started = await startLb([
    { name: 'backend-api-1', address: a.address },
    { name: 'backend-api-2', address: b.address, weight: 2 },
  ]);
  return { a, b, started };
}

function setState(admin: number, server: string, state: unknown) {
  return adminRequest(admin, 'POST', `/v1/upstreams/api_pool/servers/${encodeURIComponent(server)}/state`, { token: TOKEN, body: { state } });
}

describe('admin API', () => {
  it('refuses requests without the right bearer token', async () => {
    const { started } = await two();
    for (const token of [undefined, 'wrong-token-xyz']) {
      const res = await adminRequest(started.admin, 'GET', '/v1/upstreams', { token });
      expect(res.status).toBe(401);
      expect(res.json).toMatchObject({ error: { code: 'LB_ERR_ADMIN_UNAUTHORIZED' } });
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    }
    expect(started.lb.admin!.host).toBe('127.0.0.1');
  });

  it('changes nothing for a token that is a prefix, an extension or one byte off, or another scheme', async () => {
    const { started } = await two();
    const path = '/v1/upstreams/api_pool/servers/backend-api-1/state';
    const body = JSON.stringify({ state: 'maint' });
    const headers = (authorization: string) => ({ Authorization: authorization, 'Content-Type': 'application/json' });
    for (const authorization of [`Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}2`, `Basic ${TOKEN}`, `Bearer  ${TOKEN}`, TOKEN]) {
      const res = await sendRequest(started.admin, path, { method: 'POST', headers: headers(authorization), body });
      expect(res.status, authorization).toBe(401);
    }
    expect(started.lb.pools.get('api_pool')!.servers.map((s) => s.state)).toEqual(['up', 'up']);
    expect(started.log.all.filter((e) => e.event === 'server-state')).toEqual([]);
    // The same request with the token is what would have changed it.
    expect((await sendRequest(started.admin, path, { method: 'POST', headers: headers(`Bearer ${TOKEN}`), body })).status).toBe(200);
    expect(started.lb.pools.get('api_pool')!.servers.map((s) => s.state)).toEqual(['maint', 'up']);
  });

  it('lists upstreams and servers with state, weights and counters', async () => {
    const { a, b, started } = await two();
    await sendRequest(started.port, '/x');
    const res = await adminRequest(started.admin, 'GET', '/v1/upstreams', { token: TOKEN });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      upstreams: [
        {
          name: 'api_pool',
          queued: 0,
          servers: [
            {
              name: 'backend-api-1',
              address: a.address,
              state: 'up',
              weight: 1,
              effectiveWeight: 1,
              active: 0,
              requests: expect.any(Number),
              failures: 0,
              backup: false,
              maxConn: 0,
              checkFails: 0,
              checkPasses: 0,
              lastChange: expect.any(Number),
            },
            expect.objectContaining({ name: 'backend-api-2', address: b.address, weight: 2, effectiveWeight: 2 }),
          ],
        },
      ],
    });
    const servers = res.json.upstreams[0].servers as Array<{ requests: number }>;
    expect(servers[0]!.requests + servers[1]!.requests).toBe(1);
  });

  it('drain lets in-flight requests finish and sends new ones elsewhere; maint and ready emit events', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const a = await checked((_req, res) => void held.then(() => res.end('slow done')));
    const b = await checked();
    const { admin, port, log } = await startLb([
      { name: 'backend-api-1', address: a.address },
      { name: 'backend-api-2', address: b.address },
    ]);
    const inFlight = sendRequest(port, '/slow');
    await new Promise<void>((resolve) => a.server.once('request', () => resolve()));
    const drained = await setState(admin, 'backend-api-1', 'drain');
    expect(drained.status).toBe(200);
    expect(drained.json).toMatchObject({ upstream: 'api_pool', server: { name: 'backend-api-1', state: 'drain', active: 1 } });
    expect(await log.waitFor((e) => e.event === 'server-state' && e.to === 'drain')).toMatchObject({ from: 'up', reason: 'admin: drain' });
    for (let i = 0; i < 4; i++) expect((await sendRequest(port, '/x')).body.startsWith(`${b.port} `)).toBe(true);
    release();
    expect(await inFlight).toMatchObject({ status: 200, body: 'slow done' });

    // Matched by address as well as by name.
    expect((await setState(admin, a.address, 'maint')).json.server.state).toBe('maint');
    await log.waitFor((e) => e.event === 'server-state' && e.to === 'maint');
    expect((await setState(admin, 'backend-api-2', 'maint')).status).toBe(200);
    expect((await sendRequest(port, '/x')).status).toBe(503);
    expect((await setState(admin, 'backend-api-2', 'ready')).json.server.state).toBe('up');
    expect(await log.waitFor((e) => e.event === 'server-state' && e.server === 'backend-api-2' && e.to === 'up')).toMatchObject({
      from: 'maint',
      reason: 'admin: ready',
    });
  });

  it('ready after maint starts the slow start ramp', async () => {
    const a = await checked();
    const { admin } = await startLb([{ name: 's', address: a.address, weight: 10 }], { slowstart_ms: 60_000 });
    await setState(admin, 's', 'maint');
    const res = await setState(admin, 's', 'ready');
    expect(res.json.server).toMatchObject({ state: 'up', weight: 10 });
    expect(res.json.server.effectiveWeight).toBeGreaterThan(0);
    expect(res.json.server.effectiveWeight).toBeLessThan(1);
  });

  it('maint cuts live sessions with on_marked_down: shutdown_sessions', async () => {
    const a = await checked((_req, res) => {
      res.writeHead(200);
      res.write('first');
    });
    const { admin, port } = await startLb([{ name: 's', address: a.address }], { on_marked_down: 'shutdown_sessions' });
    const outcome = new Promise<string>((resolve) => {
      http.get({ host: '127.0.0.1', port, path: '/stream', agent: false }, (res) => {
        res.once('data', () => void setState(admin, 's', 'maint'));
        res.on('end', () => resolve('end'));
        res.on('error', () => resolve('cut'));
        res.on('close', () => resolve('cut'));
      });
    });
    expect(await outcome).toBe('cut');
  });

  it('sets weights', async () => {
    const { a, b, started } = await two();
    const res = await adminRequest(started.admin, 'POST', '/v1/upstreams/api_pool/servers/backend-api-1/weight', { token: TOKEN, body: { weight: 3 } });
    expect(res.json.server).toMatchObject({ weight: 3, effectiveWeight: 3 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const bodies: string[] = [];
    for (let i = 0; i < 25; i++) bodies.push((await sendRequest(started.port, '/x', { agent })).body);
    agent.destroy();
    expect(bodies.filter((x) => x.startsWith(`${a.port} `))).toHaveLength(15);
    expect(bodies.filter((x) => x.startsWith(`${b.port} `))).toHaveLength(10);
  });

  it('answers 404 and 400 with JSON errors', async () => {
    const { started } = await two();
    const { admin } = started;
    const cases: Array<[string, string, unknown, number, string]> = [
      ['POST', '/v1/upstreams/nope/servers/backend-api-1/state', { state: 'drain' }, 404, 'LB_ERR_ADMIN_NOT_FOUND'],
      ['POST', '/v1/upstreams/api_pool/servers/nope/state', { state: 'drain' }, 404, 'LB_ERR_ADMIN_NOT_FOUND'],
      ['GET', '/v1/nothing', undefined, 404, 'LB_ERR_ADMIN_NOT_FOUND'],
      ['POST', '/v1/upstreams/api_pool/servers/backend-api-1/state', 'not json', 400, 'LB_ERR_ADMIN_BAD_REQUEST'],
      ['POST', '/v1/upstreams/api_pool/servers/backend-api-1/state', { state: 'off' }, 400, 'LB_ERR_ADMIN_BAD_REQUEST'],
      ['POST', '/v1/upstreams/api_pool/servers/backend-api-1/state', { state: 'drain', extra: 1 }, 400, 'LB_ERR_ADMIN_BAD_REQUEST'],
      ['POST', '/v1/upstreams/api_pool/servers/backend-api-1/weight', { weight: 257 }, 400, 'LB_ERR_ADMIN_BAD_REQUEST'],
      ['GET', '/v1/upstreams/api_pool/servers/backend-api-1/state', undefined, 405, 'LB_ERR_ADMIN_BAD_REQUEST'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const res = await adminRequest(admin, method, path, { token: TOKEN, body });
      expect([path, res.status, res.json?.error?.code]).toEqual([path, status, code]);
      expect(typeof res.json.error.message).toBe('string');
    }
    const bad = await adminRequest(admin, 'POST', '/v1/upstreams/api_pool/servers/backend-api-1/state', { token: TOKEN, body: { state: 'off' } });
    expect(bad.json.error.message).toMatch(/^state: /);
    expect(started.lb.pools.get('api_pool')!.servers[0]!.state).toBe('up');
  });

  it('streams state-change events as NDJSON as they happen', async () => {
    const { started } = await two();
    const lines: ServerStateEvent[] = [];
    let gotLine!: () => void;
    const firstLine = new Promise<void>((resolve) => (gotLine = resolve));
    const headers = await new Promise<http.IncomingHttpHeaders>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: started.admin, path: '/v1/events', headers: { Authorization: `Bearer ${TOKEN}` }, agent: false }, (res) => {
        res.on('error', () => undefined);
        const rl = createInterface({ input: res });
        rl.on('error', () => undefined);
        rl.on('line', (line) => {
          lines.push(JSON.parse(line) as ServerStateEvent);
          gotLine();
        });
        resolve(res.headers);
      });
      req.on('error', () => undefined);
      cleanups.push(async () => void req.destroy());
    });
    expect(headers['content-type']).toBe('application/x-ndjson');
    await setState(started.admin, 'backend-api-2', 'maint');
    await firstLine;
    expect(lines).toEqual([
      {
        event: 'server-state',
        upstream: 'api_pool',
        server: 'backend-api-2',
        address: started.lb.pools.get('api_pool')!.servers[1]!.address,
        from: 'up',
        to: 'maint',
        reason: 'admin: maint',
        atMs: expect.any(Number),
      },
    ]);
    expect(started.log.all.filter((e) => e.event === 'server-state')).toEqual(lines);
  });
});
