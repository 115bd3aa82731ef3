import { formatMs } from '../duration.ts';
import { nowMs } from '../probe/probe-stream.ts';
import { budgetMs, fail, pass, type BackendBinding, type Check } from './check.ts';
import { failoverPool, steadyProbe } from './failover-sequence.ts';

/** Slow requests in flight when the drain starts; round robin puts about half on the victim. */
const IN_FLIGHT = 6;
/** Probes after the drain that must all avoid the drained server. */
const PROBES_AFTER_DRAIN = 200;

/**
 * Seed 001's planned restart: `set server api_pool/backend-api-1 state drain` through the
 * runtime API. New requests skip the server at once; the ones it holds finish normally.
 */
export const drainGraceful: Check = {
  id: 'drain.graceful',
  title: 'a drained server gets no new requests and finishes the ones it has',
  severity: 'must',
  needs: ['runtime-api'],
  needsPool: true,
  disruptive: true,
  async run(ctx) {
    const drainBudget = budgetMs(ctx, 'drain');
    const expected = `after "drain" through the runtime API, no new request reaches the server (from ${formatMs(drainBudget)} on), and its ${IN_FLIGHT / 2}-ish in-flight slow requests complete with 200`;
    const runtime = ctx.runtime!;
    const { pool, victim: preferred } = failoverPool(ctx);
    await (await steadyProbe(ctx, pool)).stop();
    // Slow requests: the backend holds each response head this long after receiving it.
    const holdMs = Math.max(1_500, drainBudget * 3);
    const ids = Array.from({ length: IN_FLIGHT }, () => ctx.nextId());
    const slow = ids.map((id, i) => ctx.client.send(ctx.app, { path: `${pool.probePath}?lbdrill-inflight=${i}`, headers: ctx.tag(id, { 'x-lbdrill-delay-ms': String(holdMs) }), timeoutMs: holdMs + 30_000 }));
    const received = await Promise.all(ids.map((id) => ctx.waitReceived(id, 10_000)));
    // Drain a primary that holds some of them: the profile's first one, unless persistence put them all elsewhere.
    const holding = (b: BackendBinding): boolean => received.some((r) => r?.backend === b.backend.id);
    const victim = holding(preferred) ? preferred : pool.primaries.find(holding);
    if (!victim) {
      await Promise.all(slow);
      return fail(expected, `none of ${IN_FLIGHT} in-flight requests landed on a primary of ${pool.configName}`);
    }
    const onVictim = ids.filter((_, i) => received[i]?.backend === victim.backend.id);
    const drainAtMs = nowMs();
    await runtime.command(pool.configName, ctx.serverName(victim), 'drain');
    try {
      const probe = ctx.probe({ path: (seq) => `${pool.probePath}?lbdrill-drain=${seq}` });
      while (probe.samples.length < PROBES_AFTER_DRAIN && !ctx.signal.aborted) await new Promise((r) => setTimeout(r, probe.intervalMs * 10));
      const samples = await probe.stop();
      const results = await Promise.all(slow);
      const late = samples.filter((s) => s.backend === victim.backend.id && s.sentAtMs > drainAtMs + drainBudget);
      const inflight = onVictim.map((id) => results[ids.indexOf(id)]!);
      const unfinished = inflight.filter((r) => r.status !== 200);
      const evidence = {
        victim: victim.backend.id,
        runtimeApi: runtime.title,
        inFlightOnVictim: inflight.map((r) => ({ status: r.status ?? r.error?.kind ?? null, ms: Math.round(r.durationMs) })),
        probesAfterDrain: samples.length,
        probesOnDrainedServer: samples.filter((s) => s.backend === victim.backend.id).map((s) => Math.round(s.sentAtMs - drainAtMs)),
        drainBudgetMs: drainBudget,
      };
      const problems: string[] = [];
      if (late.length > 0) problems.push(`${late.length} of ${samples.length} new requests still reached ${victim.backend.id} after the drain`);
      if (unfinished.length > 0) problems.push(`${unfinished.length} of its ${inflight.length} in-flight requests did not finish with 200 (${unfinished.map((r) => r.status ?? r.error?.kind).join(', ')})`);
      if (problems.length > 0) return fail(expected, problems.join('; '), evidence);
      return pass(expected, `0 of ${samples.length} new requests reached ${victim.backend.id} after the drain; its ${inflight.length} in-flight requests finished with 200`, evidence);
    } finally {
      await runtime.command(pool.configName, ctx.serverName(victim), 'ready');
    }
  },
};
