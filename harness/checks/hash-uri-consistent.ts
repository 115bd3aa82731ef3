import { nowMs } from '../probe/probe-stream.ts';
import { budgetMs, fail, pass, type Check, type CheckContext } from './check.ts';
import { steadyProbe, waitLbState } from './failover-sequence.ts';
import { backendOf } from './sticky-support.ts';
import { contractPool } from '../contracts/pools.ts';
import type { ServerRemoval } from '../runtime/server-remover.ts';

/** Distinct URIs (track ids) hashed before and after a node leaves. */
const KEYS = 1000;
/** Requests in flight while mapping the keys. */
const CONCURRENCY = 16;
/** The moved share may differ from 1/N by this much (virtual-node rings are not perfectly even). */
const SHARE_TOLERANCE = 0.1;
/** Keys of surviving nodes that may move anyway (a ring rebuilt with tiny differences). */
const SURVIVOR_MOVES_MAX = 0.02;

/** `afterReload`: the LB just reloaded, so a pooled keep-alive connection may close unanswered (RFC 9112 §9.3.1: sent again). */
async function mapKeys(ctx: CheckContext, prefix: string, round: string, afterReload = false): Promise<Array<string | null>> {
  const out: Array<string | null> = new Array(KEYS).fill(null);
  let next = 0;
  const worker = async () => {
    while (next < KEYS) {
      const k = next++;
      const res = await ctx.client.send(ctx.app, { path: `${prefix}track-${ctx.seed}-${k}/segment.ts`, headers: { 'x-lbdrill-id': `hash-${round}-${k}` }, timeoutMs: 10_000 }, { retryOnKeepAliveClose: afterReload });
      out[k] = res.status === 200 ? backendOf(res) : null;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return out;
}

/**
 * Seed 001's stream_pool (`balance uri whole` + `hash-type consistent`): the same URI
 * always reaches the same node, and when one of N nodes leaves only its own keys move
 * (about 1/N of them). `hash-type map-based` re-maps most keys and fails.
 *
 * "Leaves" is what the LB can be told: HAProxy and the reference LB take a stopped node out on
 * their own health checks. nginx OSS only skips a failed peer per key (its plain `hash` re-hashes
 * just the keys that hit it), so there the node also leaves the config the way an operator scales
 * the pool down: its server line is removed and nginx reloads. That membership change is where
 * `hash` without `consistent` re-maps most keys.
 */
export const hashUriConsistent: Check = {
  id: 'hash.uri-consistent',
  title: 'URI hashing is consistent: one node leaving moves only its own keys (~1/N)',
  severity: 'must',
  needs: ['uri-hash'],
  needsPool: true,
  disruptive: true,
  async run(ctx) {
    const expected = `${KEYS} URIs: repeated requests reach the same node; with one of N nodes down, only its keys move (share 1/N ± ${SHARE_TOLERANCE}, at most ${SURVIVOR_MOVES_MAX * 100}% of the others)`;
    const pool = contractPool(ctx);
    const n = pool.primaries.length;
    if (n < 3) return fail(expected, `stream_pool needs at least 3 servers to tell consistent from map-based hashing, the config has ${n}`);
    await (await steadyProbe(ctx, pool, [])).stop();
    const prefix = pool.probePath.replace(/[^/]*$/, '');
    ctx.progress(`hashing ${KEYS} URIs over ${n} nodes`);
    const before = await mapKeys(ctx, prefix, 'a');
    const again = await mapKeys(ctx, prefix, 'b');
    const unstable = before.filter((b, k) => b !== again[k]).length;
    const counts: Record<string, number> = {};
    for (const b of before) counts[String(b)] = (counts[String(b)] ?? 0) + 1;
    if (unstable > 0) return fail(expected, `${unstable} of ${KEYS} URIs reached another node on a second request, with nothing changed`, { perNode: counts });
    // The node holding the most keys leaves; wait until the LB has taken it out.
    const victim = [...pool.primaries].sort((a, b) => (counts[b.backend.id] ?? 0) - (counts[a.backend.id] ?? 0))[0]!;
    const faultAtMs = nowMs();
    await ctx.faults.apply({ type: 'stop' }, ctx.site(victim));
    const detect = budgetMs(ctx, 'detect');
    const down = await waitLbState(ctx, pool, victim, 'down', faultAtMs, detect * 3);
    const remover = ctx.serverRemover;
    let removal: ServerRemoval | undefined;
    let after: Array<string | null>;
    try {
      if (remover) {
        ctx.progress(`${victim.backend.id} stopped; taking it out of the config (${remover.title})`);
        removal = await remover.remove(victim.upstream);
      } else if (!ctx.runtime) {
        await new Promise((r) => setTimeout(r, detect));
      }
      ctx.progress(`${victim.backend.id} ${removal ? 'removed' : 'down'} (${down === undefined ? 'no LB report' : `${Math.round(down)} ms`}); hashing again`);
      after = await mapKeys(ctx, prefix, 'c', removal !== undefined);
    } finally {
      await remover?.restore();
    }
    const victimKeys = before.filter((b) => b === victim.backend.id).length;
    const survivorKeys = KEYS - victimKeys;
    const survivorsMoved = before.filter((b, k) => b !== victim.backend.id && after[k] !== b).length;
    const victimMovedOk = before.filter((b, k) => b === victim.backend.id && after[k] !== null && after[k] !== victim.backend.id).length;
    const failedAfter = after.filter((a) => a === null).length;
    const movedShare = (survivorsMoved + victimMovedOk) / KEYS;
    const evidence = { nodes: n, perNodeBefore: counts, victim: victim.backend.id, victimKeys, survivorsMoved, movedShare: Math.round(movedShare * 1000) / 1000, idealShare: Math.round((1 / n) * 1000) / 1000, failedAfter, lbDownAfterMs: down === undefined ? null : Math.round(down), leftBy: removal ? { how: remover!.title, line: removal.line, removed: removal.removed, reload: removal.reload } : 'stopped; the LB took it out' };
    const observed = `${victim.backend.id} ${removal ? `left the config (line ${removal.line}, reload)` : 'left'} with ${victimKeys} keys; ${(movedShare * 100).toFixed(1)}% of keys moved (ideal ${(100 / n).toFixed(1)}%), ${survivorsMoved} of ${survivorKeys} keys of surviving nodes moved`;
    if (failedAfter > 0) return fail(expected, `${observed}; ${failedAfter} requests failed after the node left`, evidence);
    if (survivorsMoved / survivorKeys > SURVIVOR_MOVES_MAX || Math.abs(movedShare - 1 / n) > SHARE_TOLERANCE) return fail(expected, `${observed}: not consistent hashing`, evidence);
    return pass(expected, observed, evidence);
  },
};
