import { formatMs } from '../duration.ts';
import { nowMs } from '../probe/probe-stream.ts';
import { budgetMs, fail, pass, type Check } from './check.ts';
import { failoverPool, steadyProbe, waitForProbe } from './failover-sequence.ts';

/** A pause in the victim's application traffic this long, at 200 req/s, means the LB took it out. */
const GAP_MS = 300;

/**
 * Passive ejection: a server whose health checks pass but whose answers are 503s is
 * taken out on the evidence of real traffic (nginx max_fails, HAProxy `observe layer7`,
 * Apache `failonstatus`, reference `passive`).
 */
export const healthPassiveEjection: Check = {
  id: 'health.passive-ejection',
  title: 'a server answering errors is ejected on live traffic, not only by health checks',
  severity: 'must',
  needs: ['passive-health-checks'],
  needsPool: true,
  disruptive: true,
  async run(ctx) {
    const budget = budgetMs(ctx, 'passive');
    const expected = `once a server answers every request with 503 (health path still 200), the LB stops sending it application traffic (a gap of ${GAP_MS} ms or more) within ${formatMs(budget)}`;
    const { pool, victim } = failoverPool(ctx);
    const probe = await steadyProbe(ctx, pool);
    const faultAtMs = nowMs();
    await ctx.faults.apply({ type: 'errors', attributes: { rate: 1, status: 503 } }, ctx.site(victim));
    await waitForProbe(probe, (s) => (s.at(-1)?.sentAtMs ?? 0) > faultAtMs + budget + GAP_MS, budget + GAP_MS + 10_000, ctx.signal);
    const samples = await probe.stop();
    // What the victim itself received: retried requests never show up in the probe's answers.
    const hits = victim.backend.requests.filter((r) => !r.health && r.receivedAtMs >= faultAtMs && r.receivedAtMs <= faultAtMs + budget + GAP_MS).map((r) => r.receivedAtMs);
    let ejectedAtMs: number | undefined;
    let prev = faultAtMs;
    for (const t of [...hits, faultAtMs + budget + GAP_MS]) {
      if (t - prev >= GAP_MS) {
        ejectedAtMs = prev;
        break;
      }
      prev = t;
    }
    const clientErrors = samples.filter((s) => s.sentAtMs >= faultAtMs && (s.status ?? 0) >= 500).length;
    const evidence = { victim: victim.backend.id, requestsToVictim: hits.length, victimHitsMs: hits.slice(0, 200).map((t) => Math.round(t - faultAtMs)), clientErrors, gapMs: GAP_MS, budgetMs: budget };
    if (ejectedAtMs === undefined || ejectedAtMs - faultAtMs > budget) {
      return fail(expected, `${victim.backend.id} kept receiving application requests: ${hits.length} in ${formatMs(budget + GAP_MS)}, never a ${GAP_MS} ms pause (${clientErrors} 5xx reached the client)`, evidence);
    }
    return pass(expected, `ejected after ${hits.length} requests, ${formatMs(ejectedAtMs - faultAtMs)} after it started failing; ${clientErrors} 5xx reached the client`, evidence);
  },
};
