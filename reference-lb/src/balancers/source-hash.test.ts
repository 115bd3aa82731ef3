import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startLoadBalancer, type StartedLoadBalancer } from '../start-load-balancer.ts';
import { openWs, startTestUpstream, startWsUpstream, testConfig, type TestUpstream } from '../test-upstream.ts';
import { UpstreamServer } from '../upstream-server.ts';
import { SourceHash } from './source-hash.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

/** Distinct client addresses on the loopback /8; each is a real source address of a real connection. */
const CLIENTS = Array.from({ length: 24 }, (_, i) => `127.0.0.${i + 10}`);

async function startLb(addresses: string[]): Promise<StartedLoadBalancer> {
  const lb = await startLoadBalancer(
    testConfig({
      upstreams: { ws_pool: { balance: 'source_hash', keepalive: 4, servers: addresses.map((address, i) => ({ name: `app${i + 1}`, address })) } },
      listeners: [{ name: 'web', bind: '127.0.0.1:0', routes: [{ match: { prefix: '/' }, proxy: { upstream: 'ws_pool' } }] }],
    }),
  );
  cleanups.push(() => lb.close());
  return lb;
}

/** The upstream port that served a GET from `localAddress` (the echo body starts with it). */
function servedFrom(port: number, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/ws/x', localAddress, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (t: string) => (body += t));
        res.on('end', () => resolve(Number(body.split(' ')[0])));
      })
      .on('error', reject);
  });
}

async function assignment(port: number): Promise<number[]> {
  const out: number[] = [];
  for (const client of CLIENTS) out.push(await servedFrom(port, client));
  return out;
}

describe('SourceHash', () => {
  it('keeps each client address on one server, spreads addresses, and moves only the clients of a server that goes away', async () => {
    const ups: TestUpstream[] = [];
    for (let i = 0; i < 3; i++) {
      const u = await startTestUpstream();
      cleanups.push(() => u.close());
      ups.push(u);
    }
    const lb = await startLb(ups.map((u) => u.address));
    const port = lb.listeners[0]!.port;
    const first = await assignment(port);
    expect(await assignment(port)).toEqual(first);
    expect(new Set(first).size).toBe(3);

    const gone = ups[1]!.port;
    lb.pools.get('ws_pool')!.servers[1]!.setStatus({ adminState: 'maint' });
    const after = await assignment(port);
    for (let i = 0; i < CLIENTS.length; i++) {
      if (first[i] === gone) expect(after[i]).not.toBe(gone);
      else expect(after[i]).toBe(first[i]);
    }
  });

  it('pins WebSocket upgrades by source address as well', async () => {
    const ups = [];
    for (let i = 0; i < 2; i++) {
      const u = await startWsUpstream();
      cleanups.push(() => u.close());
      ups.push(u);
    }
    const lb = await startLb(ups.map((u) => u.address));
    const port = lb.listeners[0]!.port;
    for (const client of CLIENTS.slice(0, 6)) {
      const expected = await servedFrom(port, client);
      const ws = await openWs(`ws://127.0.0.1:${port}/ws/x`, { localAddress: client });
      expect(ws.hello.port).toBe(expected);
      ws.ws.close();
      await ws.closed;
    }
  });

  it('hashes an IPv4-mapped IPv6 client like its IPv4 address, and the whole IPv4 address rather than its /24', () => {
    const servers = Array.from({ length: 4 }, (_, i) => new UpstreamServer(`10.0.0.${i + 1}:80`));
    const balancer = new SourceHash(servers);
    // A stand-in for the request: the balancer reads nothing but the peer address.
    const from = (remoteAddress: string): string | undefined => balancer.pick(undefined, { socket: { remoteAddress } } as IncomingMessage)?.address;
    for (let i = 0; i < 50; i++) expect(from(`::ffff:192.0.2.${i}`)).toBe(from(`192.0.2.${i}`));
    const sameSlash24 = new Set(Array.from({ length: 50 }, (_, i) => from(`198.51.100.${i}`)));
    expect(sameSlash24.size).toBeGreaterThan(1);
  });
});
