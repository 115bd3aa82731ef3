import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startLoadBalancer } from '../start-load-balancer.ts';
import { sendRequest, startTestUpstream, testConfig, type TestUpstream } from '../test-upstream.ts';
import { UpstreamServer } from '../upstream-server.ts';
import { LeastConnections } from './least-connections.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

function servers(...specs: Array<[string, number?, { backup?: boolean; maxConn?: number }?]>): UpstreamServer[] {
  return specs.map(([address, weight, o]) => new UpstreamServer(address, { weight: weight ?? 1, backup: o?.backup ?? false, maxConn: o?.maxConn ?? 0 }));
}

/** Picks `n` times, each pick starting a request that stays in flight. */
function hold(lc: LeastConnections, n: number): string[] {
  return Array.from({ length: n }, () => {
    const s = lc.pick(undefined);
    s?.onRequestStart();
    return s?.address ?? '-';
  });
}

function activeOf(list: UpstreamServer[]): number[] {
  return list.map((s) => s.active);
}

describe('LeastConnections', () => {
  it('keeps in-flight requests in proportion to weights 3:3:2 (nginx least_conn)', () => {
    const s = servers(['a:1', 3], ['b:1', 3], ['c:1', 2]);
    const lc = new LeastConnections(s);
    hold(lc, 8);
    expect(activeOf(s)).toEqual([3, 3, 2]);
    hold(lc, 8);
    expect(activeOf(s)).toEqual([6, 6, 4]);
    // The server whose requests end first gets the next ones.
    for (let i = 0; i < 3; i++) s[2]!.onRequestEnd(false);
    expect(hold(lc, 3)).toEqual(['c:1', 'c:1', 'c:1']);
  });

  it('shares ties by weighted round robin', () => {
    const s = servers(['a:1'], ['b:1'], ['c:1']);
    const lc = new LeastConnections(s);
    // Every request ends before the next: all tie at 0 in flight, so plain round robin.
    const order = Array.from({ length: 6 }, () => lc.pick(undefined)?.address);
    expect(order).toEqual(['a:1', 'b:1', 'c:1', 'a:1', 'b:1', 'c:1']);
    const w = servers(['a:1', 2], ['b:1', 1]);
    const weighted = new LeastConnections(w);
    const picks = Array.from({ length: 300 }, () => weighted.pick(undefined)?.address);
    expect(picks.filter((p) => p === 'a:1')).toHaveLength(200);
  });

  it('skips unavailable, excluded and full servers; backups only when no primary is left, not when primaries are full', () => {
    const s = servers(['a:1', 1, { maxConn: 1 }], ['b:1', 1, { maxConn: 1 }], ['z:1', 1, { backup: true }]);
    const lc = new LeastConnections(s);
    expect(hold(lc, 2).sort()).toEqual(['a:1', 'b:1']);
    // Both primaries at max_conn: no pick (the request queues), the backup stays idle.
    expect(lc.pick(undefined)).toBeUndefined();
    s[0]!.onRequestEnd(false);
    expect(lc.pick(new Set([s[0]!]))).toBeUndefined();
    expect(lc.pick(undefined)?.address).toBe('a:1');
    s[0]!.setStatus({ healthy: false });
    s[1]!.setStatus({ adminState: 'maint' });
    expect(lc.pick(undefined)?.address).toBe('z:1');
  });
});

describe('balance: least_conn over real sockets', () => {
  it('spreads 16 long requests 6:6:4 over servers weighted 3:3:2, never to the backup', async () => {
    const releases: Array<() => void> = [];
    const received: number[] = [];
    let wake: (() => void) | undefined;
    const holding = (port: () => number): http.RequestListener => (req, res) => {
      req.resume();
      received.push(port());
      wake?.();
      releases.push(() => res.end('done'));
    };
    const ups: TestUpstream[] = [];
    for (let i = 0; i < 4; i++) {
      let port = 0;
      const u = await startTestUpstream(holding(() => port));
      port = u.port;
      cleanups.push(() => u.close());
      ups.push(u);
    }
    const lb = await startLoadBalancer(
      testConfig({
        upstreams: {
          sysmanage_backend: {
            balance: 'least_conn',
            keepalive: 32,
            servers: [
              { address: ups[0]!.address, weight: 3 },
              { address: ups[1]!.address, weight: 3 },
              { address: ups[2]!.address, weight: 2 },
              { address: ups[3]!.address, backup: true },
            ],
          },
        },
        listeners: [{ name: 'web', bind: '127.0.0.1:0', routes: [{ match: { prefix: '/' }, proxy: { upstream: 'sysmanage_backend' } }] }],
      }),
    );
    cleanups.push(() => lb.close());
    const port = lb.listeners[0]!.port;
    const pending: Array<Promise<unknown>> = [];
    for (let i = 0; i < 16; i++) {
      // One at a time: each request is in flight upstream before the next is balanced.
      const arrived = new Promise<void>((resolve) => (wake = resolve));
      pending.push(sendRequest(port, `/api/${i}`));
      await arrived;
    }
    const count = (p: number): number => received.filter((r) => r === p).length;
    expect(ups.map((u) => count(u.port))).toEqual([6, 6, 4, 0]);
    for (const r of releases) r();
    await Promise.all(pending);
  });
});
