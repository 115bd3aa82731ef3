import { SimulatedUsers } from '../client/simulated-user.ts';
import { fail, pass, type Check } from './check.ts';
import { backendOf } from './sticky-support.ts';
import { contractPool } from '../contracts/pools.ts';

/** Users, each with its own address (one per /24: nginx's ip_hash keys on the first three octets). */
const SOURCES = 24;
/** HTTP requests per user (on new connections), then one WebSocket upgrade from the same address. */
const REQUESTS = 5;

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
    await using users = new SimulatedUsers({ caPem: ctx.caPem, seed: ctx.seed, purpose: affinitySourceIp.id, count: SOURCES });
    const rows: Array<{ source: string; http: string[]; ws?: string }> = [];
    for (const user of users.users) {
      const http: string[] = [];
      for (let r = 0; r < REQUESTS; r++) {
        const res = await user.http.send(ctx.app, { path: `${pool.probePath}?src=${user.index}&r=${r}`, headers: ctx.tag(ctx.nextId()) }, { fresh: true });
        http.push(backendOf(res) ?? `status ${res.status ?? res.error?.kind}`);
      }
      rows.push({ source: user.address, http });
    }
    const fleet = await ctx.wsFleet({ count: SOURCES, localAddress: users.addressOf, pathFor: (i) => `${pool.probePath.replace(/[^/]*$/, '')}affinity-${i}` });
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
