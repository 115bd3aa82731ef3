import { formatMs } from '../duration.ts';
import { nowMs } from '../probe/probe-stream.ts';
import type { ProbeSample } from '../probe/probe-stream.ts';
import { budgetMs, DrillProblem, fail, ownBackend, pass, type BackendBinding, type Check, type PoolBinding } from './check.ts';
import { failoverPool, steadyProbe, steadyTimeoutMs, waitForProbe } from './failover-sequence.ts';

/** A pause in the victim's application traffic this long, at 200 req/s, means the LB took it out. */
const GAP_MS = 300;
/** A pause counts only while the LB kept serving: this many answers from the pool's other servers inside
 *  it (about 60 at 200 req/s over 300 ms). A CPU-starved probe stream pauses everyone: on a loaded CI box
 *  a 325 ms stall of the stream passed a config without passive ejection. */
const MIN_OTHER_ANSWERS_IN_GAP = 10;
/** Probes over which the victim's share of the traffic is judged before the fault. */
const SHARE_WINDOW = 100;
/** The victim carries at least this fraction of its weighted share before it starts failing. */
const FULL_SHARE_FRACTION = 0.75;

/** The victim's share by weight among the primaries (a server line without a weight counts 1). */
function weightedShare(pool: PoolBinding, victim: BackendBinding): number {
  const weight = (b: BackendBinding) => b.upstream.weight ?? 1;
  return weight(victim) / pool.primaries.reduce((sum, b) => sum + weight(b), 0);
}

/** The victim's share of the last SHARE_WINDOW answers. */
function recentShare(samples: readonly ProbeSample[], victim: BackendBinding): number {
  const tail = samples.slice(-SHARE_WINDOW);
  return tail.length < SHARE_WINDOW ? 0 : tail.filter((s) => s.backend === victim.backend.id).length / tail.length;
}

/**
 * Passive ejection: a server whose health checks pass but whose answers are 503s is
 * taken out on the evidence of real traffic (nginx max_fails, HAProxy `observe layer7`,
 * Apache `failonstatus`, reference `passive`).
 */
export const healthPassiveEjection: Check = {
  id: 'health.passive-ejection',
  title: 'a server answering errors is ejected on live traffic, not only by health checks',
  severity: 'must',
  needs: ['passive-health-checks', 'own-backends'],
  needsPool: true,
  disruptive: true,
  async run(ctx) {
    const budget = budgetMs(ctx, 'passive');
    const expected = `once a server answers every request with 503 (health path still 200), the LB stops sending it application traffic (a gap of ${GAP_MS} ms or more) within ${formatMs(budget)}`;
    const { pool, victim } = failoverPool(ctx);
    const probe = await steadyProbe(ctx, pool);
    // Error limits count answers, not time: a victim still in slow start after an earlier check's
    // restart gets a few requests a second and reaches its limit late. Start from its full share.
    const share = weightedShare(pool, victim);
    const rampMs = (pool.health?.slowstartMs ?? 0) * ctx.failover.timeScale;
    const full = await waitForProbe(probe, (s) => recentShare(s, victim) >= FULL_SHARE_FRACTION * share, rampMs + steadyTimeoutMs(ctx), ctx.signal);
    if (!full) {
      await probe.stop();
      throw new DrillProblem(`${victim.backend.id} never reached ${Math.round(FULL_SHARE_FRACTION * share * 100)}% of the traffic (its weighted share ${Math.round(share * 100)}%): last ${SHARE_WINDOW} probes ${Math.round(recentShare(probe.samples, victim) * 100)}%`);
    }
    const shareAtFault = recentShare(probe.samples, victim);
    const faultAtMs = nowMs();
    await ctx.faults.apply({ type: 'errors', attributes: { rate: 1, status: 503 } }, ctx.site(victim));
    await waitForProbe(probe, (s) => (s.at(-1)?.sentAtMs ?? 0) > faultAtMs + budget + GAP_MS, budget + GAP_MS + 10_000, ctx.signal);
    const samples = await probe.stop();
    // What the victim itself received: retried requests never show up in the probe's answers.
    const hits = ownBackend(victim).requests.filter((r) => !r.health && r.receivedAtMs >= faultAtMs && r.receivedAtMs <= faultAtMs + budget + GAP_MS).map((r) => r.receivedAtMs);
    const othersIn = (from: number, to: number): number => samples.filter((s) => s.backend !== null && s.backend !== victim.backend.id && s.sentAtMs >= from && s.sentAtMs <= to).length;
    let ejectedAtMs: number | undefined;
    let stalls = 0;
    let prev = faultAtMs;
    for (const t of [...hits, faultAtMs + budget + GAP_MS]) {
      if (t - prev >= GAP_MS) {
        if (othersIn(prev, prev + GAP_MS) >= MIN_OTHER_ANSWERS_IN_GAP) {
          ejectedAtMs = prev;
          break;
        }
        stalls++;
      }
      prev = t;
    }
    const clientErrors = samples.filter((s) => s.sentAtMs >= faultAtMs && (s.status ?? 0) >= 500).length;
    const evidence = { victim: victim.backend.id, shareAtFault: Math.round(shareAtFault * 1000) / 1000, weightedShare: Math.round(share * 1000) / 1000, requestsToVictim: hits.length, victimHitsMs: hits.slice(0, 200).map((t) => Math.round(t - faultAtMs)), clientErrors, gapMs: GAP_MS, budgetMs: budget, pausesWithoutOtherTraffic: stalls };
    if (ejectedAtMs === undefined || ejectedAtMs - faultAtMs > budget) {
      return fail(expected, `${victim.backend.id} kept receiving application requests: ${hits.length} in ${formatMs(budget + GAP_MS)}, never a ${GAP_MS} ms pause (${clientErrors} 5xx reached the client)`, evidence);
    }
    return pass(expected, `ejected after ${hits.length} requests, ${formatMs(ejectedAtMs - faultAtMs)} after it started failing; ${clientErrors} 5xx reached the client`, evidence);
  },
};
