import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { LbEvent, ServerStateEvent, UpstreamErrorEvent } from './events.ts';
import { startLoadBalancer, type StartedLoadBalancer } from './start-load-balancer.ts';
import { deadAddress, EventLog, sendRequest, startCheckedUpstream, testConfig, type CheckedUpstream } from './test-upstream.ts';

/*
 * Failover end to end: real upstreams on 127.0.0.1, a real LB, state changes observed
 * through the events it emits. Intervals are short (50 ms) and every wait is for an
 * event, so the suite stays fast and tolerant of a busy machine.
 */

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

const INTERVAL_MS = 50;

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

async function startLb(upstream: Record<string, unknown>, top: Record<string, unknown> = {}): Promise<Started> {
  const config = testConfig({
    upstreams: { api_pool: { keepalive: 8, ...upstream } },
    timeouts: { connect_ms: 1000, read_ms: 5000 },
    listeners: [{ name: 'web', bind: '127.0.0.1:0', routes: [{ match: { prefix: '/' }, proxy: { upstream: 'api_pool' } }] }],
    ...top,
  });
  const log = new EventLog<LbEvent>();
  const lb = await startLoadBalancer(config, { onEvent: log.push });
  cleanups.push(() => lb.close());
  return { lb, port: lb.listeners[0]!.port, log };
}

const healthCheck = { path: '/health', interval_ms: INTERVAL_MS, timeout_ms: 500, fall: 3, rise: 2 };

function isState(to: string, server?: string): (e: LbEvent) => e is ServerStateEvent {
  return (e): e is ServerStateEvent => e.event === 'server-state' && e.to === to && (server === undefined || e.server === server);
}

async function waitState(log: EventLog<LbEvent>, to: string, server: string, since = 0): Promise<ServerStateEvent> {
  return (await log.waitFor(isState(to, server), { since, what: `${server} -> ${to}` })) as ServerStateEvent;
}

/** Sends `n` sequential GETs over one keep-alive agent; returns the body of each (`<port> GET /...`). */
async function burst(port: number, n: number, path = '/x'): Promise<string[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push((await sendRequest(port, path, { agent })).body);
    return out;
  } finally {
    agent.destroy();
  }
}

/** Health checks the upstream received after its `since`-th request. */
function healthChecks(up: CheckedUpstream, since: number): number {
  return up.requests.slice(since).filter((r) => r.url === '/health').length;
}

function countFrom(bodies: string[], up: CheckedUpstream): number {
  return bodies.filter((b) => b.startsWith(`${up.port} `)).length;
}

describe('active health checks', () => {
  it('marks a server down after `fall` failed checks and up after `rise` passes, with events', async () => {
    const a = await checked();
    const b = await checked();
    const { port, log, lb } = await startLb({
      servers: [
        { name: 'backend-api-1', address: a.address },
        { name: 'backend-api-2', address: b.address },
      ],
      health_check: healthCheck,
    });
    expect(lb.pools.get('api_pool')!.servers.map((s) => s.state)).toEqual(['up', 'up']);
    const failedAt = performance.timeOrigin + performance.now();
    const seenBefore = a.requests.length;
    a.health.status = 503;
    const down = await waitState(log, 'down', 'backend-api-1');
    expect(down).toEqual({
      event: 'server-state',
      upstream: 'api_pool',
      server: 'backend-api-1',
      address: a.address,
      from: 'up',
      to: 'down',
      reason: 'health check: status 503 (3/3)',
      atMs: expect.any(Number),
    });
    // `fall` failed checks, not fewer; and not long after the third (generous bound for a busy machine).
    expect(healthChecks(a, seenBefore)).toBeGreaterThanOrEqual(3);
    expect(down.atMs - failedAt).toBeLessThan(3000);

    const before = a.traffic().length;
    expect(countFrom(await burst(port, 10), b)).toBe(10);
    expect(a.traffic().length).toBe(before);

    const since = log.all.length;
    const seenAtDown = a.requests.length;
    a.health.status = 200;
    const up = await waitState(log, 'up', 'backend-api-1', since);
    expect(up).toMatchObject({ from: 'down', to: 'up', reason: 'health check: status 200 (2/2)' });
    expect(healthChecks(a, seenAtDown)).toBeGreaterThanOrEqual(2);
    expect(countFrom(await burst(port, 10), a)).toBe(5);
  });

  it('names the connect error of a dead server in the reason', async () => {
    const a = await checked();
    const { log } = await startLb({ servers: [{ name: 'one', address: a.address }], health_check: healthCheck });
    await a.close();
    const down = await waitState(log, 'down', 'one');
    expect(down.reason).toBe('health check: connect ECONNREFUSED (3/3)');
  });

  it('answers 503 while every server is down, and sends traffic to backups only then', async () => {
    const a = await checked();
    const backup = await checked();
    const { port, log } = await startLb({
      servers: [
        { name: 'primary', address: a.address },
        { name: 'spare', address: backup.address, backup: true },
      ],
      health_check: healthCheck,
    });
    expect(countFrom(await burst(port, 6), a)).toBe(6);
    a.health.status = 500;
    await waitState(log, 'down', 'primary');
    expect(countFrom(await burst(port, 6), backup)).toBe(6);
    backup.health.status = 500;
    await waitState(log, 'down', 'spare');
    expect((await sendRequest(port, '/x')).status).toBe(503);
    a.health.status = 200;
    await waitState(log, 'up', 'primary');
    expect(countFrom(await burst(port, 6), a)).toBe(6);
  });
});

describe('weights', () => {
  it('splits traffic by weight', async () => {
    const a = await checked();
    const b = await checked();
    const { port } = await startLb({
      servers: [
        { address: a.address, weight: 3 },
        { address: b.address, weight: 1 },
      ],
    });
    const bodies = await burst(port, 40);
    expect(countFrom(bodies, a)).toBe(30);
    expect(countFrom(bodies, b)).toBe(10);
  });
});

describe('passive ejection', () => {
  it('takes a server out after max_fails failures within fail_timeout and brings it back after fail_timeout', async () => {
    const dead = await deadAddress();
    const live = await checked();
    const failTimeoutMs = 400;
    const { port, log } = await startLb({
      servers: [
        { name: 'dead', address: dead },
        { name: 'live', address: live.address },
      ],
      passive: { max_fails: 2, fail_timeout_ms: failTimeoutMs },
    });
    // Every request still succeeds (connect failures are retried on the live server).
    const bodies = await burst(port, 10);
    expect(countFrom(bodies, live)).toBe(10);
    const down = await waitState(log, 'down', 'dead');
    expect(down.reason).toMatch(/^passive: 2 failure\(s\) within 400 ms, last: connect to 127\.0\.0\.1:\d+ failed/);
    const errors = log.all.filter((e): e is UpstreamErrorEvent => e.event === 'upstream-error');
    expect(errors).toHaveLength(2);
    const up = await waitState(log, 'up', 'dead');
    expect(up.reason).toBe('passive: fail_timeout 400 ms elapsed');
    expect(up.atMs - down.atMs).toBeGreaterThanOrEqual(failTimeoutMs - 5);
  });

  it('counts fail_on_status responses, relays them, and with health checks stays down until they pass', async () => {
    const flaky = await checked((_req, res) => {
      res.statusCode = 503;
      res.end('busy');
    });
    const { port, log } = await startLb({
      servers: [{ name: 'flaky', address: flaky.address }],
      passive: { max_fails: 2, fail_timeout_ms: 10_000, fail_on_status: [503] },
      health_check: { ...healthCheck, rise: 3 },
    });
    expect((await sendRequest(port, '/x')).status).toBe(503);
    expect(log.all.some(isState('down'))).toBe(false);
    const res = await sendRequest(port, '/x');
    expect(res).toMatchObject({ status: 503, body: 'busy' });
    const down = await waitState(log, 'down', 'flaky');
    const seenAtDown = flaky.requests.length;
    expect(down.reason).toBe('passive: 2 failure(s) within 10000 ms, last: status 503; down until 3 health check(s) pass');
    expect((await sendRequest(port, '/x')).status).toBe(503);
    expect(flaky.traffic()).toHaveLength(2);
    const up = await waitState(log, 'up', 'flaky');
    expect(up.reason).toBe('health check: status 200 (3/3)');
    // Down until `rise` checks passed after the ejection, though the checks passed all along
    // (one of them may have been in flight at the ejection, so `rise - 1` arrived later).
    expect(healthChecks(flaky, seenAtDown)).toBeGreaterThanOrEqual(2);
  });
});

describe('on_marked_down', () => {
  /** An upstream that streams a chunk every 20 ms until the connection goes. */
  async function streaming(): Promise<{ up: CheckedUpstream; upstreamClosed: Promise<void> }> {
    let closed!: () => void;
    const upstreamClosed = new Promise<void>((resolve) => (closed = resolve));
    const up = await checked((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      const timer = setInterval(() => res.write('tick\n'), 20);
      res.on('close', () => {
        clearInterval(timer);
        closed();
      });
      req.resume();
    });
    return { up, upstreamClosed };
  }

  /** Opens a streaming GET; resolves `firstByte` when data flows and `ended` with how it ended. */
  function openStream(port: number): { firstByte: Promise<void>; ended: Promise<string>; bytes: () => number } {
    let bytes = 0;
    let first!: () => void;
    const firstByte = new Promise<void>((resolve) => (first = resolve));
    const ended = new Promise<string>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/stream', agent: false }, (res) => {
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          first();
        });
        res.on('end', () => resolve('end'));
        res.on('error', () => resolve('cut'));
        res.on('close', () => resolve('cut'));
      });
      req.on('error', () => resolve('cut'));
      cleanups.push(async () => void req.destroy());
    });
    return { firstByte, ended, bytes: () => bytes };
  }

  it('shutdown_sessions cuts the client and upstream connections the moment the server is marked down', async () => {
    const { up, upstreamClosed } = await streaming();
    const { port, log } = await startLb({
      servers: [{ name: 's1', address: up.address }],
      health_check: healthCheck,
      on_marked_down: 'shutdown_sessions',
    });
    const stream = openStream(port);
    await stream.firstByte;
    up.health.status = 503;
    const down = await waitState(log, 'down', 's1');
    expect(await stream.ended).toBe('cut');
    const cutAfterMs = performance.timeOrigin + performance.now() - down.atMs;
    expect(cutAfterMs).toBeLessThan(500);
    await upstreamClosed;
    expect(log.all).toContainEqual(expect.objectContaining({ event: 'upstream-error', code: 'LB_ERR_SESSION_SHUTDOWN', server: up.address }));
  });

  it('none (the default) lets live sessions run on after the server is marked down', async () => {
    const { up } = await streaming();
    const { port, log } = await startLb({ servers: [{ name: 's1', address: up.address }], health_check: healthCheck });
    const stream = openStream(port);
    await stream.firstByte;
    up.health.status = 503;
    await waitState(log, 'down', 's1');
    const at = stream.bytes();
    // Still flowing: wait for more bytes to arrive (event-driven: poll on the next few chunks).
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (stream.bytes() >= at + 50) {
          clearInterval(t);
          resolve();
        }
      }, 10);
      void stream.ended.then(() => {
        clearInterval(t);
        reject(new Error('stream ended'));
      });
    });
  });
});

describe('slowstart_ms', () => {
  it('ramps a recovered server up over slowstart_ms instead of in one step', async () => {
    const a = await checked();
    const b = await checked();
    const slowStartMs = 2000;
    const { port, log } = await startLb({
      servers: [
        { name: 'a', address: a.address },
        { name: 'b', address: b.address },
      ],
      health_check: healthCheck,
      slowstart_ms: slowStartMs,
    });
    b.health.status = 503;
    await waitState(log, 'down', 'b');
    b.health.status = 200;
    const up = await waitState(log, 'up', 'b');
    // Four concurrent sequential clients for the whole ramp; bucket b's share into thirds of it.
    const thirds = [
      { total: 0, b: 0 },
      { total: 0, b: 0 },
      { total: 0, b: 0 },
    ];
    const end = up.atMs + slowStartMs;
    const client = async (): Promise<void> => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (;;) {
          const res = await sendRequest(port, '/x', { agent });
          const at = performance.timeOrigin + performance.now();
          if (at >= end) return;
          const bucket = thirds[Math.min(2, Math.floor(((at - up.atMs) / slowStartMs) * 3))]!;
          bucket.total++;
          if (res.body.startsWith(`${b.port} `)) bucket.b++;
        }
      } finally {
        agent.destroy();
      }
    };
    await Promise.all([client(), client(), client(), client()]);
    const shares = thirds.map((t) => t.b / t.total);
    // Ideal shares with effective weight f/(1+f): ~0.13, ~0.33, ~0.45 on average per third.
    expect(thirds.every((t) => t.total >= 10), JSON.stringify(thirds)).toBe(true);
    expect(shares[0]!, JSON.stringify(thirds)).toBeLessThan(0.25);
    expect(shares[2]!, JSON.stringify(thirds)).toBeGreaterThan(0.33);
    expect(shares[0]!, JSON.stringify(thirds)).toBeLessThan(shares[1]!);
    expect(shares[1]!, JSON.stringify(thirds)).toBeLessThan(shares[2]!);
    // Fully up afterwards: an even split.
    expect(countFrom(await burst(port, 20), b)).toBe(10);
  });
});
