import { afterEach, describe, expect, it } from 'vitest';
import { startLoadBalancer } from '../start-load-balancer.ts';
import { sendRequest, startTestUpstream, testConfig, type TestUpstream } from '../test-upstream.ts';
import { UpstreamServer } from '../upstream-server.ts';
import { HashRing, parseHashKey } from './consistent-hash.ts';
import { hash32 } from './hash32.ts';

/** Keys shaped like the stream pool's: HLS segment URIs that differ only in their tail. */
const KEY_COUNT = 2000;
const KEYS = Array.from({ length: KEY_COUNT }, (_, i) => `/stream/track/${1000 + i}/index.m3u8?quality=hi`);
/** Allowed distance from the ideal share of keys that move (the brief: 1/N ± 0.1). */
const DISPLACEMENT_TOLERANCE = 0.1;

function servers(...names: string[]): UpstreamServer[] {
  return names.map((name, i) => new UpstreamServer(`10.0.0.${i + 1}:8082`, { name }));
}

function assign(ring: HashRing, exclude?: ReadonlySet<UpstreamServer>): string[] {
  return KEYS.map((k) => ring.lookup(hash32(k), exclude)?.name ?? '-');
}

function shares(assigned: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of assigned) out[name] = (out[name] ?? 0) + 1 / assigned.length;
  return out;
}

describe('hash32', () => {
  it('is deterministic, hashes ranges without slicing, and spreads near-identical keys', () => {
    expect(hash32('/track/1')).toBe(hash32('/track/1'));
    expect(hash32('x/track/1?', 1, 9)).toBe(hash32('/track/1'));
    // Keys that differ in their last character land all over the 32-bit range.
    const top = new Set(Array.from({ length: 64 }, (_, i) => hash32(`/track/${i}`) >>> 28));
    expect(top.size).toBeGreaterThanOrEqual(12);
  });
});

describe('HashRing', () => {
  it('spreads keys evenly over equal servers and by weight otherwise', () => {
    const even = shares(assign(new HashRing(servers('s1', 's2', 's3', 's4'))));
    for (const name of ['s1', 's2', 's3', 's4']) expect(even[name], JSON.stringify(even)).toBeGreaterThan(0.17);
    for (const name of ['s1', 's2', 's3', 's4']) expect(even[name], JSON.stringify(even)).toBeLessThan(0.33);
    const weighted = [new UpstreamServer('10.0.0.1:1', { name: 'big', weight: 3 }), new UpstreamServer('10.0.0.2:1', { name: 'small' })];
    const w = shares(assign(new HashRing(weighted)));
    expect(w['big'], JSON.stringify(w)).toBeGreaterThan(0.65);
    expect(w['big'], JSON.stringify(w)).toBeLessThan(0.85);
  });

  it('moves only the keys of a server that goes away (about 1/N) and sends them to the next servers', () => {
    const s = servers('stream-srv-1', 'stream-srv-2', 'stream-srv-3', 'stream-srv-4');
    const ring = new HashRing(s);
    const before = assign(ring);
    s[2]!.setStatus({ healthy: false });
    const after = assign(ring);
    let moved = 0;
    for (let i = 0; i < KEY_COUNT; i++) {
      if (before[i] === 'stream-srv-3') {
        moved++;
        expect(after[i]).not.toBe('stream-srv-3');
      } else {
        // Every other key stays exactly where it was.
        expect(after[i]).toBe(before[i]);
      }
    }
    expect(Math.abs(moved / KEY_COUNT - 1 / 4), `moved ${moved} of ${KEY_COUNT}`).toBeLessThanOrEqual(DISPLACEMENT_TOLERANCE);
    // Its keys are spread over the others rather than dumped on one neighbour.
    const heirs = new Set(after.filter((_, i) => before[i] === 'stream-srv-3'));
    expect(heirs.size).toBe(3);
    // Back up: every key is home again.
    s[2]!.setStatus({ healthy: true });
    expect(assign(ring)).toEqual(before);
  });

  it('moves about 1/(N+1) of the keys, all to the new server, when one is added', () => {
    const four = assign(new HashRing(servers('stream-srv-1', 'stream-srv-2', 'stream-srv-3', 'stream-srv-4')));
    const five = assign(new HashRing(servers('stream-srv-1', 'stream-srv-2', 'stream-srv-3', 'stream-srv-4', 'stream-srv-5')));
    let moved = 0;
    for (let i = 0; i < KEY_COUNT; i++) {
      if (four[i] === five[i]) continue;
      moved++;
      expect(five[i]).toBe('stream-srv-5');
    }
    expect(Math.abs(moved / KEY_COUNT - 1 / 5), `moved ${moved} of ${KEY_COUNT}`).toBeLessThanOrEqual(DISPLACEMENT_TOLERANCE);
  });

  it('skips excluded and unavailable servers, falls back to backups, and answers undefined when none is left', () => {
    const s = [...servers('a', 'b'), new UpstreamServer('10.0.0.9:1', { name: 'z', backup: true })];
    const ring = new HashRing(s);
    expect(assign(ring)).not.toContain('z');
    expect(new Set(assign(ring, new Set([s[0]!])))).toEqual(new Set(['b']));
    expect(new Set(assign(ring, new Set([s[0]!, s[1]!])))).toEqual(new Set(['z']));
    s[0]!.setStatus({ adminState: 'drain' });
    s[1]!.setStatus({ adminState: 'maint' });
    expect(new Set(assign(ring))).toEqual(new Set(['z']));
    expect(ring.lookup(1, new Set([s[2]!]))).toBeUndefined();
  });

  it('gives a server with a lowered weight (admin, slow start) a matching part of its keys', () => {
    const s = [new UpstreamServer('10.0.0.1:1', { name: 'a', weight: 2 }), new UpstreamServer('10.0.0.2:1', { name: 'b', weight: 2 })];
    const ring = new HashRing(s);
    const full = assign(ring);
    s[1]!.setStatus({ weight: 1 });
    const half = assign(ring);
    const bFull = full.filter((n) => n === 'b').length;
    const bHalf = half.filter((n) => n === 'b').length;
    expect(bHalf).toBeGreaterThan(bFull * 0.3);
    expect(bHalf).toBeLessThan(bFull * 0.7);
    // The keys it keeps are a subset of its keys at full weight: nothing else moves.
    expect(half.every((n, i) => (n === 'b' ? full[i] === 'b' : full[i] === 'b' || full[i] === n))).toBe(true);
    s[1]!.setStatus({ weight: 0 });
    expect(assign(ring)).not.toContain('b');
    // Above the configured weight it counts as the configured weight.
    s[1]!.setStatus({ weight: 8 });
    expect(assign(ring)).toEqual(full);
  });
});

describe('parseHashKey', () => {
  it.each([
    ['uri', { source: 'uri' }],
    ['path', { source: 'path' }],
    ['header:X-Track-Id', { source: 'header', name: 'x-track-id' }],
    ['cookie:session', { source: 'cookie', name: 'session' }],
    ['header:', undefined],
    ['cookie:a b', undefined],
    ['query:x', undefined],
    ['URI', undefined],
  ])('%s', (text, expected) => {
    expect(parseHashKey(text)).toEqual(expected);
  });
});

describe('balance: consistent_hash through the LB', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()?.();
  });

  /** Three upstreams behind an LB hashing on `hashKey`; `served(path, headers)` says which upstream (0-2) answered. */
  async function setup(hashKey: string): Promise<(path: string, headers?: Record<string, string>) => Promise<number>> {
    const ups: TestUpstream[] = [];
    for (let i = 0; i < 3; i++) {
      const u = await startTestUpstream();
      cleanups.push(() => u.close());
      ups.push(u);
    }
    const lb = await startLoadBalancer(
      testConfig({
        upstreams: { stream_pool: { balance: 'consistent_hash', hash_key: hashKey, keepalive: 4, servers: ups.map((u, i) => ({ name: `stream-srv-${i + 1}`, address: u.address })) } },
        listeners: [{ name: 'web', bind: '127.0.0.1:0', routes: [{ match: { prefix: '/stream/' }, proxy: { upstream: 'stream_pool', strip_prefix: '/stream' } }] }],
      }),
    );
    cleanups.push(() => lb.close());
    const port = lb.listeners[0]!.port;
    return async (path, headers = {}) => {
      const res = await sendRequest(port, path, { headers });
      return ups.findIndex((u) => res.body.startsWith(`${u.port} `));
    };
  }

  const TRACKS = Array.from({ length: 30 }, (_, i) => `/stream/track/${i}/seg-1.ts`);

  it('uri: the same path and query always reach the same server, and the query counts (balance uri whole)', async () => {
    const served = await setup('uri');
    const first = await Promise.all(TRACKS.map((t) => served(`${t}?q=hi`)));
    expect(await Promise.all(TRACKS.map((t) => served(`${t}?q=hi`)))).toEqual(first);
    expect(new Set(first).size).toBe(3);
    const lo = await Promise.all(TRACKS.map((t) => served(`${t}?q=lo`)));
    expect(lo).not.toEqual(first);
  });

  it('path: the query does not count', async () => {
    const served = await setup('path');
    const hi = await Promise.all(TRACKS.map((t) => served(`${t}?q=hi`)));
    expect(await Promise.all(TRACKS.map((t) => served(`${t}?q=lo&x=${t.length}`)))).toEqual(hi);
  });

  it('header:<name> and cookie:<name> hash their value, and a request without it is balanced round robin', async () => {
    const byHeader = await setup('header:X-Track-Id');
    const ids = Array.from({ length: 20 }, (_, i) => `track-${i}`);
    const first = await Promise.all(ids.map((id) => byHeader('/stream/a', { 'x-track-id': id })));
    expect(await Promise.all(ids.map((id) => byHeader(`/stream/b${id}`, { 'X-TRACK-ID': id })))).toEqual(first);
    const without: number[] = [];
    for (let i = 0; i < 6; i++) without.push(await byHeader('/stream/a'));
    expect(without).toEqual([0, 1, 2, 0, 1, 2]);

    const byCookie = await setup('cookie:track');
    const viaCookie = await Promise.all(ids.map((id) => byCookie('/stream/a', { cookie: `a=1; track=${id}` })));
    expect(await Promise.all(ids.map((id) => byCookie('/stream/z', { cookie: `track=${id}` })))).toEqual(viaCookie);
    expect(new Set(viaCookie).size).toBeGreaterThan(1);
  });
});
