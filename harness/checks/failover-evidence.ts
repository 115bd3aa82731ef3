import { formatMs } from '../duration.ts';
import type { CheckContext } from './check.ts';
import type { FailoverDrill } from './failover-sequence.ts';

/** The numbers every failover check puts in its evidence, so each cell of the matrix carries the whole drill. */
export function drillEvidence(ctx: CheckContext, drill: FailoverDrill): Record<string, unknown> {
  const m = drill.measurement;
  return {
    pool: drill.pool,
    victim: drill.victim,
    measurement: m,
    resolution: `probe stream at ${ctx.failover.probeRatePerSec} req/s: times are +-${formatMs(m.resolutionMs)}; LB events are timed when lbdrill reads them`,
    lbEvents: drill.lbEvents,
    phases: drill.phases,
    budgetsMs: ctx.failover.budgetsMs,
    budgetSources: ctx.failover.budgetSources,
    timeScale: ctx.failover.timeScale,
    timeline: drill.timelineFiles,
    ...(ctx.runtime ? { runtimeApi: ctx.runtime.title, eventSource: ctx.runtime.eventSource } : { runtimeApi: null }),
  };
}

/** "1.2 s (LB DOWN report)" / "0 ms (no client-visible failure)". */
export function describeDetection(drill: FailoverDrill): string {
  const m = drill.measurement;
  if (m.detectMs === null) return 'never';
  if (m.detectSource === 'lb-event') return `${formatMs(m.detectMs)} (the LB's own DOWN report)`;
  if (m.clientErrors === 0 && m.detectMs <= m.resolutionMs * 2) return `${formatMs(m.detectMs)} (no client-visible failure: the LB moved the stopped server's requests elsewhere at once)`;
  return `${formatMs(m.detectMs)} (last probe the stopped server touched)`;
}
