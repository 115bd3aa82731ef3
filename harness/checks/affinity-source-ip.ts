import { LbClient } from '../client/lb-client.ts';
import { fail, pass, type Check } from './check.ts';
import { backendOf } from './sticky-support.ts';
import { contractPool } from '../contracts/pools.ts';

/** Distinct client addresses; 127.0.0.0/8 gives each one its own source. */
const SOURCES = 24;
/** HTTP requests per source (on new connections), then one WebSocket upgrade. */
const REQUESTS = 5;

/** One address per /24: nginx's ip_hash keys on the first three octets of an IPv4 address. */
const sourceAddress = (i: number) => `127.${40 + i}.0.9`;

/** Seed 004 (`ip_hash`, `balance source`): the same client address always reaches the same backend, WebSocket upgrades on /ws/ included. */
export const affinitySourceIp: Check = {
  id: 'affinity.source-ip',
  title: 'the same client address always reaches the same backend (HTTP and WebSocket on /ws/)',
  severity: 'must',
  needs: ['source-hash', 'websocket'],
  needsPool: true,
  async run(ctx) {
    const expected = `${SOURCES} client addresses x ${REQUESTS} requests on new connections, then a WebSocket upgrade: each address on one backend, more than one backend in use`;
    const pool = contractPool(ctx);
    const rows: Array<{ source: string; http: string[]; ws?: string }> = [];
    for (let i = 0; i < SOURCES; i++) {
      const client = new LbClient({ ca: ctx.caPem, localAddress: sourceAddress(i) });
      try {
        const http: string[] = [];
        for (let r = 0; r < REQUESTS; r++) {
          const res = await client.send(ctx.app, { path: `${pool.probePath}?src=${i}&r=${r}`, headers: ctx.tag(ctx.nextId()) }, { fresh: true });
          http.push(backendOf(res) ?? `status ${res.status ?? res.error?.kind}`);
        }
        rows.push({ source: sourceAddress(i), http });
      } finally {
        await client.close();
      }
    }
    const fleet = await ctx.wsFleet({ count: SOURCES, localAddress: sourceAddress, pathFor: (i) => `${pool.probePath.replace(/[^/]*$/, '')}affinity-${i}` });
    try {
      await fleet.waitAllConnected(20_000);
    } catch (err) {
      return fail(expected, `not every WebSocket connected: ${(err as Error).message}`, { rows });
    }
    fleet.clients.forEach((c, i) => (rows[i]!.ws = c.backend ?? '?'));
    const split = rows.filter((r) => new Set([...r.http, r.ws]).size !== 1);
    const used = new Set(rows.map((r) => r.http[0]));
    const evidence = { rows, backendsUsed: [...used] };
    if (split.length > 0) return fail(expected, `${split.length} of ${SOURCES} addresses were spread, e.g. ${split[0]!.source}: HTTP ${split[0]!.http.join(',')}, WebSocket ${split[0]!.ws}`, evidence);
    if (used.size < 2) return fail(expected, `all ${SOURCES} addresses reached ${[...used][0]}: no balancing to judge affinity by`, evidence);
    return pass(expected, `each of ${SOURCES} addresses stayed on one backend for ${REQUESTS} requests and its WebSocket; ${used.size} backends in use`, evidence);
  },
};
