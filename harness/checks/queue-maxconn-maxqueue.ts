import type { LbResponse } from '../client/lb-client.ts';
import { formatMs } from '../duration.ts';
import type { StartedBackend } from '../../fixtures/backend/index.ts';
import { DrillProblem, fail, ownBackend, pass, type Check, type CheckContext } from './check.ts';
import { answeredBy, serverAt } from './node-map-support.ts';
import { nodeMap } from '../contracts/node-map.ts';
import { contractPool } from '../contracts/pools.ts';

/** Requests sent beyond the gateway's capacity, one per master in turn. */
const EXTRA_PER_MASTER = 2;
/** Once every slot is held, the queued requests (sent at the same moment) have this long to reach the LB's queue. */
const QUEUE_SETTLE_MS = 200;

/**
 * Seed 002 (`server ... maxconn M maxqueue Q`): M+Q slow concurrent requests per master are
 * all served (M at once, Q queued and never lost); the ones beyond get a 503 quickly. Every
 * master is filled, because with redispatch an overflow may go to another master: the
 * gateway as a whole must be at capacity before anything may be refused.
 */
export const queueMaxconnMaxqueue: Check = {
  id: 'queue.maxconn-maxqueue',
  title: 'maxconn + maxqueue: M+Q slow requests per server are served, the rest get a quick 503',
  severity: 'must',
  needs: ['server-queue', 'own-backends'],
  needsPool: true,
  async run(ctx) {
    const q = ctx.queue;
    const expected = q
      ? `per master ${q.maxConn} in slots + ${q.maxQueue} queued, each held ${formatMs(q.holdMs)}: all answered 200 (none lost); ${EXTRA_PER_MASTER} more per master get 503 within ${formatMs(q.refuseWithinMs)}`
      : 'the profile declares the maxconn/maxqueue contract';
    if (!q) throw new DrillProblem('the profile declares no queue contract (queue: max_conn, max_queue)');
    const map = nodeMap(ctx);
    const { servers, chosen } = queuedServers(ctx);
    const masters = servers.map((sv) => sv.name);
    const run = `${ctx.nextId()}-q`;
    const send = (i: number, server: QueuedServer): Promise<LbResponse> =>
      ctx.client.send(
        ctx.app,
        { path: `${contractPool(ctx).pathPrefix}v3/catalog/${server.node}?q=${i}`, headers: ctx.tag(`${run}-${i}`, { [map.header]: server.node, 'x-lbdrill-delay-ms': String(q.holdMs) }), timeoutMs: 4 * q.holdMs + 10_000 },
        { fresh: true },
      );
    const perMaster = q.maxConn + q.maxQueue;
    const first = servers.flatMap((server, m) => Array.from({ length: perMaster }, (_, i) => send(m * perMaster + i, server)));
    // Synchronise on the backends: each master holds its maxConn requests of this run.
    const held = (server: QueuedServer) => server.backend.requests.filter((r) => r.lbdrillId?.startsWith(`${run}-`) && r.responseStatus === undefined).length;
    const full = await Promise.all(servers.map((sv) => sv.backend.waitForRequest(() => held(sv) >= q.maxConn, q.holdMs).then(() => true, () => false)));
    const heldAtExtras = Object.fromEntries(servers.map((sv) => [sv.name, held(sv)]));
    if (!full.every(Boolean)) {
      await Promise.all(first);
      throw new DrillProblem(`the masters never held ${q.maxConn} requests each at once (held: ${JSON.stringify(heldAtExtras)})`);
    }
    await new Promise((r) => setTimeout(r, QUEUE_SETTLE_MS));
    const extras = servers.flatMap((server, m) => Array.from({ length: EXTRA_PER_MASTER }, (_, i) => send(1000 + m * EXTRA_PER_MASTER + i, server)));
    const [a, b] = await Promise.all([Promise.all(first), Promise.all(extras)]);
    const describe = (r: LbResponse) => ({ status: r.status ?? r.error?.kind, ms: Math.round(r.durationMs), by: answeredBy(ctx, map, r) });
    const evidence = { contract: q, masters, serversChosen: chosen, heldAtExtras, first: a.map(describe), extras: b.map(describe) };
    const capacity = masters.length * perMaster;
    const served = a.filter((r) => r.status === 200).length;
    const queued = a.filter((r) => r.status === 200 && r.durationMs >= 1.5 * q.holdMs).length;
    const refused = b.filter((r) => r.status === 503 && r.durationMs < q.refuseWithinMs);
    if (served < capacity) {
      return fail(expected, `only ${served} of ${capacity} requests within maxconn+maxqueue were served (${summarise(a.filter((r) => r.status !== 200))})`, evidence);
    }
    if (refused.length < b.length) {
      const late = b.filter((r) => !(r.status === 503 && r.durationMs < q.refuseWithinMs));
      return fail(expected, `${late.length} of ${b.length} requests beyond the queues were not refused within ${formatMs(q.refuseWithinMs)}: ${summarise(late)}`, evidence);
    }
    return pass(expected, `${served}/${capacity} served across ${masters.length} masters (${queued} waited in a queue), ${refused.length}/${b.length} beyond the queues refused with 503 in at most ${formatMs(Math.max(...refused.map((r) => r.durationMs)))}`, evidence);
  },
};

/** A server the check fills: its name in the evidence, its backend, and the node whose requests it is sent. */
interface QueuedServer {
  name: string;
  backend: StartedBackend;
  node: string;
}

/**
 * The servers to fill: each master of the map at the address the profile gives it, where the config
 * has them all (a request names its master through its node); else the contract pool's primaries,
 * which the LB itself spreads the same number of requests over (a config without the map).
 */
function queuedServers(ctx: CheckContext): { servers: QueuedServer[]; chosen: string } {
  const map = nodeMap(ctx);
  const masters = [...new Set(Object.values(map.entries))];
  const nodeFor = (master: string) => Object.entries(map.entries).find(([, m]) => m === master)![0];
  const atProfile = masters.map((master) => ({ master, binding: serverAt(ctx, map, master) }));
  if (atProfile.every((m) => m.binding)) {
    return { servers: atProfile.map(({ master, binding }) => ({ name: master, backend: ownBackend(binding!), node: nodeFor(master) })), chosen: "each master at the profile's address, sent its own node" };
  }
  const pool = contractPool(ctx);
  const anyNode = Object.keys(map.entries)[0]!;
  return {
    servers: pool.primaries.map((b) => ({ name: b.backend.id, backend: ownBackend(b), node: anyNode })),
    chosen: `the ${pool.primaries.length} primaries of ${pool.configName}: the config has no server at ${atProfile.filter((m) => !m.binding).map((m) => `${m.master}'s ${map.targets[m.master]}`).join(', ')}`,
  };
}

/** "200 in 4.1-4.3 s ×3, 503 in 5 s" : answers grouped by status, with the range of their times. */
function summarise(answers: LbResponse[]): string {
  const byStatus = new Map<string, number[]>();
  for (const r of answers) {
    const key = String(r.status ?? r.error?.kind);
    byStatus.set(key, [...(byStatus.get(key) ?? []), r.durationMs]);
  }
  return [...byStatus]
    .map(([status, ms]) => {
      const [lo, hi] = [Math.min(...ms), Math.max(...ms)];
      const range = hi - lo < 50 ? formatMs(hi) : `${formatMs(lo)}-${formatMs(hi)}`;
      return `${status} in ${range}${ms.length > 1 ? ` ×${ms.length}` : ''}`;
    })
    .join(', ');
}
