import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { RateLimiter, REFUSE } from './rate-limiter.ts';
import { startLoadBalancer } from './start-load-balancer.ts';
import { sendRequest, startTestUpstream, testConfig, type TestUpstream } from './test-upstream.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

/** A clock the test moves by hand (ms). */
function fakeClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

function limiter(config: { rate_per_sec: number; burst?: number; nodelay?: boolean; key?: string }, now: () => number): RateLimiter {
  return new RateLimiter({ burst: 0, nodelay: false, key: 'client_ip', status: 503, ...config }, now);
}

describe('RateLimiter (nginx limit_req)', () => {
  it('rate=10r/s burst=20 nodelay: 21 at once, then one per 100 ms, never a client under the limit', () => {
    const clock = fakeClock();
    const rl = limiter({ rate_per_sec: 10, burst: 20, nodelay: true }, clock.now);
    const first = Array.from({ length: 25 }, () => rl.admitKey('10.0.0.1'));
    expect(first.filter((d) => d === 0)).toHaveLength(21);
    expect(first.slice(21)).toEqual([REFUSE, REFUSE, REFUSE, REFUSE]);
    // Refusals leave the state alone: 99 ms later there is still no room, at 100 ms there is exactly one.
    clock.advance(99);
    expect(rl.admitKey('10.0.0.1')).toBe(REFUSE);
    clock.advance(1);
    expect(rl.admitKey('10.0.0.1')).toBe(0);
    expect(rl.admitKey('10.0.0.1')).toBe(REFUSE);
    // Other keys have their own bucket.
    expect(rl.admitKey('10.0.0.2')).toBe(0);
    // A client at exactly the rate, from a full bucket, is never refused.
    for (let i = 0; i < 200; i++) {
      clock.advance(100);
      expect(rl.admitKey('10.0.0.1')).toBe(0);
    }
    // After a quiet spell the whole burst is back.
    clock.advance(60_000);
    expect(Array.from({ length: 22 }, () => rl.admitKey('10.0.0.1')).filter((d) => d === REFUSE)).toHaveLength(1);
  });

  it('burst 0: one request per 1/rate, to the millisecond', () => {
    const clock = fakeClock();
    const rl = limiter({ rate_per_sec: 2, nodelay: true }, clock.now);
    expect(rl.admitKey('k')).toBe(0);
    clock.advance(499);
    expect(rl.admitKey('k')).toBe(REFUSE);
    clock.advance(1);
    expect(rl.admitKey('k')).toBe(0);
  });

  it('keeps nginx integer arithmetic: sub-millisecond arrivals do not move `last`', () => {
    const clock = fakeClock();
    // 3 r/s drains 3 thousandths of a request per ms: 333 ms are not quite one request.
    const rl = limiter({ rate_per_sec: 3, nodelay: true }, clock.now);
    expect(rl.admitKey('k')).toBe(0);
    clock.advance(333);
    expect(rl.admitKey('k')).toBe(REFUSE);
    clock.advance(1);
    expect(rl.admitKey('k')).toBe(0);
    clock.advance(0.4);
    expect(rl.admitKey('k')).toBe(REFUSE);
  });

  it('without nodelay holds requests over the rate for excess / rate (nginx delay=0)', () => {
    const clock = fakeClock();
    const rl = limiter({ rate_per_sec: 10, burst: 5 }, clock.now);
    const delays = Array.from({ length: 7 }, () => rl.admitKey('k'));
    expect(delays).toEqual([0, 100, 200, 300, 400, 500, REFUSE]);
    clock.advance(250);
    // 6 outstanding less 2.5 drained, plus this one.
    expect(rl.admitKey('k')).toBe(350);
  });

  it('30 requests a minute (rate_per_sec 0.5): one every 2 s', () => {
    const clock = fakeClock();
    const rl = limiter({ rate_per_sec: 0.5, nodelay: true }, clock.now);
    expect(rl.admitKey('k')).toBe(0);
    clock.advance(1999);
    expect(rl.admitKey('k')).toBe(REFUSE);
    clock.advance(1);
    expect(rl.admitKey('k')).toBe(0);
  });

  it('forgets drained keys without changing any decision', () => {
    const clock = fakeClock();
    const rl = limiter({ rate_per_sec: 1000, burst: 1, nodelay: true }, clock.now);
    for (let i = 0; i < 3000; i++) rl.admitKey(`c${i}`);
    expect(rl.size).toBe(3000);
    clock.advance(5000);
    rl.admitKey('new');
    expect(rl.size).toBe(1);
  });
});

describe('rate_limit on a route (real sockets)', () => {
  async function upstream(): Promise<TestUpstream> {
    const u = await startTestUpstream();
    cleanups.push(() => u.close());
    return u;
  }

  it('refuses the client over rate + burst with 503 (or the configured status) before the upstream sees it', async () => {
    const up = await upstream();
    // 0.01 r/s drains a request per 100 s: whatever the machine's pace, exactly burst + 1 pass.
    const lb = await startLoadBalancer(
      testConfig({
        upstreams: { api: { keepalive: 4, servers: [{ address: up.address }] } },
        listeners: [
          {
            name: 'web',
            bind: '127.0.0.1:0',
            routes: [
              { match: { prefix: '/api/auth/' }, proxy: { upstream: 'api' }, rate_limit: { rate_per_sec: 0.01, burst: 2, nodelay: true, status: 429 } },
              { match: { prefix: '/api/' }, proxy: { upstream: 'api' }, rate_limit: { rate_per_sec: 0.01, burst: 4, nodelay: true } },
              { match: { prefix: '/by-header/' }, proxy: { upstream: 'api' }, rate_limit: { rate_per_sec: 0.01, nodelay: true, key: 'header:X-Api-Key' } },
            ],
          },
        ],
      }),
    );
    cleanups.push(() => lb.close());
    const port = lb.listeners[0]!.port;
    const statuses = async (path: string, n: number, headers?: http.OutgoingHttpHeaders): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await sendRequest(port, path, { headers })).status);
      return out;
    };
    expect(await statuses('/api/auth/login', 5)).toEqual([200, 200, 200, 429, 429]);
    // Each route has its own state, like nginx's two zones.
    expect(await statuses('/api/x', 7)).toEqual([200, 200, 200, 200, 200, 503, 503]);
    expect(up.requests).toHaveLength(8);
    // Keyed by a header: each key its own bucket; requests without it are not limited (nginx skips empty keys).
    expect(await statuses('/by-header/a', 2, { 'X-Api-Key': 'k1' })).toEqual([200, 503]);
    expect(await statuses('/by-header/a', 2, { 'X-Api-Key': 'k2' })).toEqual([200, 503]);
    expect(await statuses('/by-header/a', 3)).toEqual([200, 200, 200]);
  });

  it('holds a request over the rate without nodelay, then serves it', async () => {
    const up = await upstream();
    const clock = fakeClock();
    const lb = await startLoadBalancer(
      testConfig({
        upstreams: { api: { servers: [{ address: up.address }] } },
        listeners: [{ name: 'web', bind: '127.0.0.1:0', routes: [{ match: { prefix: '/' }, proxy: { upstream: 'api' }, rate_limit: { rate_per_sec: 5, burst: 1 } }] }],
      }),
      { now: clock.now },
    );
    cleanups.push(() => lb.close());
    const port = lb.listeners[0]!.port;
    expect((await sendRequest(port, '/a')).status).toBe(200);
    // The fake clock stands still: the second request has excess 1 and waits 1/5 s of real time.
    const started = performance.now();
    expect((await sendRequest(port, '/b')).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect((await sendRequest(port, '/c')).status).toBe(503);
  });
});
