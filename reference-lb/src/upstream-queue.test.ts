import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { LbEvent, UpstreamErrorEvent } from './events.ts';
import { startLoadBalancer, type StartedLoadBalancer } from './start-load-balancer.ts';
import { adminRequest, EventLog, sendRequest, startTestUpstream, testConfig, type TestResponse, type TestUpstream } from './test-upstream.ts';

/* max_conn / max_queue / queue_timeout_ms (HAProxy maxconn, maxqueue, timeout queue). */

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

const TOKEN = 'queue-test-token';

/** An upstream that holds every request until the test releases it by URL. */
interface HoldingUpstream extends TestUpstream {
  /** URLs in the order they arrived. */
  arrived: string[];
  /** Resolves once `n` requests have arrived in total. */
  arrivals(n: number): Promise<void>;
  release(url: string): void;
  releaseAll(): void;
}

async function holding(): Promise<HoldingUpstream> {
  const held = new Map<string, http.ServerResponse>();
  const arrived: string[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  let port = 0;
  const u = await startTestUpstream((req, res) => {
    req.resume();
    arrived.push(req.url ?? '');
    held.set(req.url ?? '', res);
    for (const w of [...waiters]) if (arrived.length >= w.n) w.resolve();
  });
  port = u.port;
  cleanups.push(() => u.close());
  return Object.assign(u, {
    arrived,
    arrivals: (n: number) => (arrived.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve }))),
    release: (url: string) => {
      const res = held.get(url);
      held.delete(url);
      res?.end(`${port} ${url}`);
    },
    releaseAll: () => {
      for (const url of [...held.keys()]) held.get(url)?.end(`${port} ${url}`);
      held.clear();
    },
  });
}

async function startLb(upstream: Record<string, unknown>): Promise<{ lb: StartedLoadBalancer; port: number; log: EventLog<LbEvent> }> {
  const log = new EventLog<LbEvent>();
  const lb = await startLoadBalancer(
    testConfig({
      upstreams: { api: { keepalive: 8, ...upstream } },
      listeners: [{ name: 'web', bind: '127.0.0.1:0', routes: [{ match: { prefix: '/' }, proxy: { upstream: 'api' } }] }],
      admin: { bind: '127.0.0.1:0', token: TOKEN },
    }),
    { onEvent: log.push },
  );
  cleanups.push(() => lb.close());
  return { lb, port: lb.listeners[0]!.port, log };
}

/** Resolves once the pool's queue holds `n` requests (checked on each event-loop turn). */
async function queued(lb: StartedLoadBalancer, n: number): Promise<void> {
  const queue = lb.pools.get('api')!.queue!;
  while (queue.size !== n) await new Promise((resolve) => setImmediate(resolve));
}

function errors(log: EventLog<LbEvent>): UpstreamErrorEvent[] {
  return log.all.filter((e): e is UpstreamErrorEvent => e.event === 'upstream-error');
}

describe('max_conn and max_queue', () => {
  it('holds at most max_conn per server, queues the rest FIFO, refuses past max_queue at once, and loses no queued request', async () => {
    const a = await holding();
    const b = await holding();
    const { lb, port, log } = await startLb({ default_max_conn: 1, max_queue: 2, queue_timeout_ms: 30_000, servers: [{ address: a.address }, { address: b.address }] });
    const r1 = sendRequest(port, '/1');
    const r2 = sendRequest(port, '/2');
    await Promise.all([a.arrivals(1), b.arrivals(1)]);
    const r3 = sendRequest(port, '/3');
    await queued(lb, 1);
    const r4 = sendRequest(port, '/4');
    await queued(lb, 2);
    const view = await adminRequest(lb.admin!.port, 'GET', '/v1/upstreams', { token: TOKEN });
    expect(view.json.upstreams[0]).toMatchObject({ name: 'api', queued: 2, servers: [{ active: 1, maxConn: 1 }, { active: 1, maxConn: 1 }] });

    // Queue full: 503 at once, the upstreams never see it.
    expect((await sendRequest(port, '/5')).status).toBe(503);
    expect(errors(log)).toMatchObject([{ code: 'LB_ERR_QUEUE_FULL', status: 503, url: '/5' }]);

    // A slot frees on b: the oldest queued request takes it, the other keeps waiting.
    b.release('/2');
    await b.arrivals(2);
    expect(b.arrived).toEqual(['/2', '/3']);
    expect(lb.pools.get('api')!.queue!.size).toBe(1);
    a.release('/1');
    await a.arrivals(2);
    expect(a.arrived).toEqual(['/1', '/4']);
    a.releaseAll();
    b.releaseAll();
    const done: TestResponse[] = await Promise.all([r1, r2, r3, r4]);
    expect(done.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(lb.pools.get('api')!.servers.map((s) => s.active)).toEqual([0, 0]);
  });

  it('answers 503 to a request that waited queue_timeout_ms, and forgets one whose client left', async () => {
    const a = await holding();
    const { lb, port, log } = await startLb({ servers: [{ address: a.address, max_conn: 1 }], queue_timeout_ms: 300 });
    const r1 = sendRequest(port, '/1');
    await a.arrivals(1);
    const started = performance.now();
    const late = await sendRequest(port, '/late');
    expect(late.status).toBe(503);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(errors(log)).toMatchObject([{ code: 'LB_ERR_QUEUE_TIMEOUT', status: 503, url: '/late' }]);

    // A queued client that goes away leaves the queue; the freed slot goes to the next one.
    const gone = http.get({ host: '127.0.0.1', port, path: '/gone', agent: false });
    gone.on('error', () => undefined);
    await queued(lb, 1);
    gone.destroy();
    await queued(lb, 0);
    const r3 = sendRequest(port, '/3');
    await queued(lb, 1);
    a.release('/1');
    await a.arrivals(2);
    a.releaseAll();
    expect((await r3).status).toBe(200);
    expect((await r1).status).toBe(200);
    expect(a.arrived).toEqual(['/1', '/3']);
  });

  it('max_queue 0: 503 at once when every server is at max_conn; backups are for servers that are down, not busy', async () => {
    const a = await holding();
    const spare = await holding();
    const { port, log } = await startLb({ max_queue: 0, servers: [{ address: a.address, max_conn: 2 }, { address: spare.address, backup: true }] });
    const held = [sendRequest(port, '/1'), sendRequest(port, '/2')];
    await a.arrivals(2);
    expect((await sendRequest(port, '/3')).status).toBe(503);
    expect(spare.arrived).toEqual([]);
    expect(errors(log).map((e) => e.code)).toEqual(['LB_ERR_QUEUE_FULL']);
    a.releaseAll();
    await Promise.all(held);
  });

  it('a request a hash pins to a busy server waits for it without holding up requests for other servers', async () => {
    const a = await holding();
    const b = await holding();
    const { lb, port } = await startLb({
      balance: 'consistent_hash',
      hash_key: 'header:X-Node-Name',
      default_max_conn: 1,
      servers: [
        { name: 'm1', address: a.address },
        { name: 'm2', address: b.address },
      ],
    });
    // Find a key for each server.
    const pool = lb.pools.get('api')!;
    const keyFor = (server: number): string => {
      for (let i = 0; ; i++) {
        const picked = pool.pick(undefined, { rawHeaders: ['X-Node-Name', `node${i}`], url: '/' } as http.IncomingMessage, undefined);
        if (picked === pool.servers[server]) return `node${i}`;
      }
    };
    const onA = keyFor(0);
    const onB = keyFor(1);
    const first = sendRequest(port, '/a1', { headers: { 'X-Node-Name': onA } });
    await a.arrivals(1);
    const waitsForA = sendRequest(port, '/a2', { headers: { 'X-Node-Name': onA } });
    await queued(lb, 1);
    // b is free: a request hashed to it goes straight there although one is queued ahead of it.
    const toB = sendRequest(port, '/b1', { headers: { 'X-Node-Name': onB } });
    await b.arrivals(1);
    b.releaseAll();
    expect((await toB).status).toBe(200);
    expect(a.arrived).toEqual(['/a1']);
    a.release('/a1');
    await a.arrivals(2);
    a.releaseAll();
    expect((await first).status).toBe(200);
    expect((await waitsForA).body).toBe(`${a.port} /a2`);
  });
});
