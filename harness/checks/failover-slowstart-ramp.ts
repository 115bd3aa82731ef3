import { formatMs } from '../duration.ts';
import { sharesByWindow } from '../probe/failover-timeline.ts';
import { nowMs } from '../probe/probe-stream.ts';
import { budgetMs, fail, pass, type Check } from './check.ts';
import { failoverPool, steadyProbe, waitForProbe, waitLbState } from './failover-sequence.ts';

/** The ramp is cut into this many windows; the share must grow across them. */
const WINDOWS_PER_RAMP = 6;
/** A step, not a ramp: the first window already carries this fraction of the steady share. */
const STEP_FRACTION = 0.75;
/** By the end of the ramp the server carries at least this fraction of its steady share. */
const END_FRACTION = 0.6;

/**
 * `slowstart`: a server back from DOWN gets a share of traffic that grows over the ramp
 * (HAProxy raises its effective weight linearly), not its full share at once.
 */
export const failoverSlowstartRamp: Check = {
  id: 'failover.slowstart-ramp',
  title: "a recovered server's traffic share ramps up instead of stepping",
  severity: 'must',
  needs: ['active-health-checks', 'slowstart'],
  needsPool: true,
  disruptive: true,
  async run(ctx) {
    const rampMs = budgetMs(ctx, 'ramp');
    const expected = `after recovery the server's share grows over ~${formatMs(rampMs)} (${ctx.failover.budgetSources['ramp'] ?? 'default'}): first ${formatMs(rampMs / WINDOWS_PER_RAMP)} under ${STEP_FRACTION * 100}% of its steady share, the last ramp window at least ${END_FRACTION * 100}%`;
    const { pool, victim } = failoverPool(ctx);
    const probe = await steadyProbe(ctx, pool);
    const steadyShare = 1 / pool.primaries.length;
    const detectBudget = budgetMs(ctx, 'detect');
    const fault = await ctx.faults.apply({ type: 'stop' }, ctx.site(victim));
    const faultAtMs = nowMs();
    ctx.progress(`${victim.backend.id} stopped; waiting for DOWN`);
    await waitLbState(ctx, pool, victim, 'down', faultAtMs, detectBudget * 3);
    await fault.undo();
    const undoAtMs = nowMs();
    ctx.progress(`${victim.backend.id} restarted; watching the ramp`);
    const upAfter = await waitLbState(ctx, pool, victim, 'up', undoAtMs, (budgetMs(ctx, 'rejoin')) * 3);
    const back = await waitForProbe(probe, (s) => s.some((x) => x.sentAtMs >= undoAtMs && x.backend === victim.backend.id), (budgetMs(ctx, 'rejoin')) * 3, ctx.signal);
    if (!back) return fail(expected, `${victim.backend.id} got no traffic after its restart`);
    const rampStart = upAfter !== undefined ? undoAtMs + upAfter : probe.samples.find((x) => x.sentAtMs >= undoAtMs && x.backend === victim.backend.id)!.sentAtMs;
    const end = rampStart + rampMs * 1.5;
    await waitForProbe(probe, (s) => (s.at(-1)?.sentAtMs ?? 0) >= end, rampMs * 2 + 5_000, ctx.signal);
    const samples = await probe.stop();
    const windows = sharesByWindow(samples, rampStart, end, rampMs / WINDOWS_PER_RAMP).map((w) => ({
      fromMs: w.startMs,
      requests: w.total,
      share: w.total === 0 ? 0 : Math.round(((w.byBackend[victim.backend.id] ?? 0) / w.total) * 1000) / 1000,
    }));
    const shares = windows.map((w) => w.share);
    const first = shares[0] ?? 0;
    const lastRamp = shares[WINDOWS_PER_RAMP - 1] ?? 0;
    const rises = shares.slice(1, WINDOWS_PER_RAMP).filter((s, i) => s > shares[i]!).length;
    const evidence = { victim: victim.backend.id, steadyShare, rampMs, windowMs: rampMs / WINDOWS_PER_RAMP, windows, lbUpAfterMs: upAfter === undefined ? null : Math.round(upAfter), rampStartsAt: upAfter !== undefined ? 'LB UP report' : 'first answer after restart' };
    const observed = `share per ${formatMs(rampMs / WINDOWS_PER_RAMP)} window after recovery: ${shares.map((s) => `${Math.round(s * 100)}%`).join(' → ')} (steady ${Math.round(steadyShare * 100)}%)`;
    if (first >= STEP_FRACTION * steadyShare) return fail(expected, `${observed}: a step, the first window already had its full share`, evidence);
    if (lastRamp < END_FRACTION * steadyShare || rises < 2) return fail(expected, `${observed}: the share did not grow to its steady value over the ramp`, evidence);
    return pass(expected, observed, evidence);
  },
};
