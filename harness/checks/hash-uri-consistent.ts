import { nowMs } from '../probe/probe-stream.ts';
import { budgetMs, fail, pass, type Check, type CheckContext } from './check.ts';
import { steadyProbe, waitLbState } from './failover-sequence.ts';
import { backendOf, poolNamed } from './sticky-support.ts';

/** Distinct URIs (track ids) hashed before and after a node leaves. */
const KEYS = 1000;
/** Requests in flight while mapping the keys. */
const CONCURRENCY = 16;
/** The moved share may differ from 1/N by this much (virtual-node rings are not perfectly even). */
const SHARE_TOLERANCE = 0.1;
/** Keys of surviving nodes that may move anyway (a ring rebuilt with tiny differences). */
const SURVIVOR_MOVES_MAX = 0.02;

async function mapKeys(ctx: CheckContext, prefix: string, round: string): Promise<Array<string | null>> {
  const out: Array<string | null> = new Array(KEYS).fill(null);
  let next = 0;
  const worker = async () => {
    while (next < KEYS) {
      const k = next++;
      const res = await ctx.client.send(ctx.app, { path: `${prefix}track-${ctx.seed}-${k}/segment.ts`, headers: { 'x-lbdrill-id': `hash-${round}-${k}` }, timeoutMs: 10_000 });
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
 */
export const hashUriConsistent: Check = {
  id: 'hash.uri-consistent',
  title: 'URI hashing is consistent: one node leaving moves only its own keys (~1/N)',
  severity: 'must',
  needs: ['uri-hash'],
  disruptive: true,
  async run(ctx) {
    const expected = `${KEYS} URIs: repeated requests reach the same node; with one of N nodes down, only its keys move (share 1/N ± ${SHARE_TOLERANCE}, at most ${SURVIVOR_MOVES_MAX * 100}% of the others)`;
    const pool = poolNamed(ctx, 'stream_pool');
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
    if (!ctx.runtime) await new Promise((r) => setTimeout(r, detect));
    ctx.progress(`${victim.backend.id} down (${down === undefined ? 'no LB report' : `${Math.round(down)} ms`}); hashing again`);
    const after = await mapKeys(ctx, prefix, 'c');
    const victimKeys = before.filter((b) => b === victim.backend.id).length;
    const survivorKeys = KEYS - victimKeys;
    const survivorsMoved = before.filter((b, k) => b !== victim.backend.id && after[k] !== b).length;
    const victimMovedOk = before.filter((b, k) => b === victim.backend.id && after[k] !== null && after[k] !== victim.backend.id).length;
    const failedAfter = after.filter((a) => a === null).length;
    const movedShare = (survivorsMoved + victimMovedOk) / KEYS;
    const evidence = { nodes: n, perNodeBefore: counts, victim: victim.backend.id, victimKeys, survivorsMoved, movedShare: Math.round(movedShare * 1000) / 1000, idealShare: Math.round((1 / n) * 1000) / 1000, failedAfter, lbDownAfterMs: down === undefined ? null : Math.round(down) };
    const observed = `${victim.backend.id} left with ${victimKeys} keys; ${(movedShare * 100).toFixed(1)}% of keys moved (ideal ${(100 / n).toFixed(1)}%), ${survivorsMoved} of ${survivorKeys} keys of surviving nodes moved`;
    if (failedAfter > 0) return fail(expected, `${observed}; ${failedAfter} requests failed after the node left`, evidence);
    if (survivorsMoved / survivorKeys > SURVIVOR_MOVES_MAX || Math.abs(movedShare - 1 / n) > SHARE_TOLERANCE) return fail(expected, `${observed}: not consistent hashing`, evidence);
    return pass(expected, observed, evidence);
  },
};
