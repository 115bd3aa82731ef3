import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatMs } from '../duration.ts';
import { measureFailover, samplesCsv, type FailoverMeasurement } from '../probe/failover-timeline.ts';
import { isClientError, nowMs, type ProbeSample, type ProbeStream } from '../probe/probe-stream.ts';
import type { LbStateEvent } from '../runtime/lb-state-event.ts';
import { budgetMs, DrillProblem, type BackendBinding, type CheckContext, type PoolBinding } from './check.ts';

/** Consecutive successful probes, with every primary answering, before a fault is injected. */
export const STEADY_SUCCESSES = 50;
/** Probes after a transition that must all succeed before the drill moves on. */
const SETTLE_SUCCESSES = 50;
/** Longest wait for a steady state at time scale 1; scaled like the intervals, never below 5 s. */
const STEADY_TIMEOUT_MS = 60_000;


/** A path of the pool's probe route, unique per request. */
export function probePath(pool: PoolBinding): (seq: number) => string {
  const sep = pool.probePath.includes('?') ? '&' : '?';
  return (seq) => `${pool.probePath}${sep}lbdrill-probe=${seq}`;
}

/** Live traffic per backend over the last second, for the drill view. */
export function lastSecond(samples: readonly ProbeSample[]): { byBackend: Record<string, number>; errors: number } {
  const since = nowMs() - 1000;
  const byBackend: Record<string, number> = {};
  let errors = 0;
  for (let i = samples.length - 1; i >= 0; i--) {
    const s = samples[i]!;
    if (s.sentAtMs < since) break;
    if (isClientError(s)) errors++;
    const key = s.backend ?? (s.error ?? `status ${s.status}`);
    byBackend[key] = (byBackend[key] ?? 0) + 1;
  }
  return { byBackend, errors };
}

/**
 * Waits until `ok` holds for the probe stream: polled on every probe answer (an event,
 * not a sleep). Resolves false after timeoutMs.
 */
export function waitForProbe(probe: ProbeStream, ok: (samples: readonly ProbeSample[]) => boolean, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const deadline = nowMs() + timeoutMs;
    const poll = () => {
      if (signal.aborted) return resolve(false);
      if (ok(probe.samples)) return resolve(true);
      if (nowMs() > deadline) return resolve(false);
      setTimeout(poll, Math.max(1, probe.intervalMs));
    };
    poll();
  });
}

/** The last `n` answers were successes and every listed backend answered at least one of them. */
export function steady(samples: readonly ProbeSample[], n: number, backends: readonly string[]): boolean {
  if (samples.length < n) return false;
  const tail = samples.slice(-n);
  if (tail.some(isClientError)) return false;
  const seen = new Set(tail.map((s) => s.backend));
  return backends.every((b) => seen.has(b));
}

export function steadyTimeoutMs(ctx: CheckContext): number {
  return Math.max(5_000, STEADY_TIMEOUT_MS * ctx.failover.timeScale);
}

/**
 * The pool failover checks act on (the profile's first), its first primary as the victim, and the
 * servers that take over: the other primaries, or where it is the only one, the backups (a hot
 * standby: Apache `status=+H`, HAProxy `backup`, nginx `backup`).
 */
export function failoverPool(ctx: CheckContext): { pool: PoolBinding; victim: BackendBinding; others: BackendBinding[] } {
  const pool = ctx.pools[0];
  if (!pool) throw new DrillProblem('the profile declares no pool to drill');
  const victim = pool.primaries[0];
  const others = pool.primaries.length > 1 ? pool.primaries.slice(1) : pool.backups;
  if (!victim || others.length === 0) {
    throw new DrillProblem(`pool ${pool.configName} has nothing to fail over to: it needs 2 primary servers, or 1 and a backup; the config has ${pool.primaries.length} primar${pool.primaries.length === 1 ? 'y' : 'ies'} and no backup`);
  }
  return { pool, victim, others };
}

/** Everything one stop/start drill measured, shared by the detect, no-errors and rejoin checks. */
export interface FailoverDrill {
  pool: string;
  victim: string;
  serverName: string;
  measurement: FailoverMeasurement;
  /** the LB's own transitions during the drill, ms from the fault (or undo for `up`). */
  lbEvents: Array<{ atMs: number; server: string; state: string; reason: string }>;
  phases: Array<{ phase: string; atMs: number }>;
  /** the victim never got traffic back within the wait, or the steady state was never reached. */
  problem?: string;
  timelineFiles: string[];
}

/**
 * The seed's failover smoke test, measured: steady traffic through the LB, stop the
 * first primary of the pool, wait for the LB to stop using it, start it again, wait
 * until it serves again. The probe stream records every request; the LB's runtime API
 * (where there is one) times its own DOWN/UP reports.
 */
export async function runFailoverDrill(ctx: CheckContext): Promise<FailoverDrill> {
  return ctx.shared('failover-drill', async () => {
    const { pool, victim, others } = failoverPool(ctx);
    const takeOut = ctx.failover.victimFault ?? 'stop';
    const detectBudget = budgetMs(ctx, 'detect');
    const rejoinBudget = budgetMs(ctx, 'rejoin');
    const probe = ctx.probe({ path: probePath(pool) });
    const t0 = probe.startedAtMs;
    const phases: FailoverDrill['phases'] = [];
    let phase = 'steady state';
    const mark = (p: string) => {
      phase = p;
      phases.push({ phase: p, atMs: Math.round(nowMs() - t0) });
    };
    mark('steady state');
    const ticker = setInterval(() => {
      const live = lastSecond(probe.samples);
      ctx.status({ phase, elapsedMs: nowMs() - t0, lastSecond: live.byBackend, errors: probe.samples.filter(isClientError).length });
    }, 250);
    const serverName = ctx.serverName(victim);
    const primaries = pool.primaries.map((b) => b.backend.id);
    let faultAtMs = 0;
    let undoAtMs: number | undefined;
    let problem: string | undefined;
    try {
      const ok = await waitForProbe(probe, (s) => steady(s, STEADY_SUCCESSES, primaries), steadyTimeoutMs(ctx), ctx.signal);
      if (!ok) throw new DrillProblem(`no steady state before the fault: wanted ${STEADY_SUCCESSES} consecutive 2xx answered by all of ${primaries.join(', ')}`);
      mark(`${takeOut} ${victim.backend.id}`);
      // Timed from the start of the stop: a deployed backend's stop hook (docker stop, ssh) may take
      // seconds, and the LB may see the backend die and report it DOWN before the command returns.
      faultAtMs = nowMs();
      const fault = await ctx.faults.apply({ type: takeOut }, ctx.site(victim));
      mark('waiting for detection');
      // Wait for the LB's own DOWN report where it has one; else for traffic to settle without the victim.
      const waitMs = detectBudget * 3;
      if (ctx.runtime) {
        const down = await ctx.runtime.waitForState(pool.configName, serverName, 'down', faultAtMs, waitMs);
        if (!down) problem = `${ctx.runtime.title} did not report ${serverName} DOWN within ${formatMs(waitMs)}`;
      }
      // A target without a DOWN report shows its behaviour in the traffic only: keep the server
      // down twice the detect budget, so that a passive check re-trying the dead server once
      // its failure window has passed (nginx fail_timeout, Apache retry=) shows in the probes.
      // Then wait until the others carry it all.
      const survivors = others.map((b) => b.backend.id);
      await waitForProbe(
        probe,
        (s) => nowMs() - faultAtMs >= (ctx.runtime ? 0 : 2 * detectBudget) && steady(s.filter((x) => x.sentAtMs > faultAtMs), SETTLE_SUCCESSES, survivors),
        waitMs,
        ctx.signal,
      );
      // Every probe sent while the victim was out gets its answer first (bounded by the detect
      // budget): measured on Apache under CPU starvation, a 175 ms stall let 16 probes sent before
      // the restart reach the LB after it, and the restarted victim's answers read as detection
      // at 4.0 s. A probe the LB itself holds towards the dead server still counts, after the bound.
      mark('answering in-flight probes');
      await probe.answered(detectBudget);
      mark(`${takeOut === 'stop' ? 'restart' : 'heal'} ${victim.backend.id}`);
      // Rejoin is timed from when the start returned: the backend serves only once its start hook is done.
      await fault.undo();
      undoAtMs = nowMs();
      mark('waiting for rejoin');
      const back = await waitForProbe(probe, (s) => s.some((x) => x.sentAtMs >= undoAtMs! && x.backend === victim.backend.id), rejoinBudget * 3, ctx.signal);
      if (!back) problem ??= `${victim.backend.id} got no traffic within ${formatMs(rejoinBudget * 3)} of its restart`;
      if (ctx.runtime) await ctx.runtime.waitForState(pool.configName, serverName, 'up', undoAtMs, back ? rejoinBudget : 1);
      mark('settle');
      await waitForProbe(probe, (s) => steady(s, SETTLE_SUCCESSES, []), steadyTimeoutMs(ctx), ctx.signal);
      mark('done');
    } finally {
      clearInterval(ticker);
    }
    const samples = await probe.stop();
    const lbEvents: LbStateEvent[] = ctx.runtime?.events.filter((e) => e.atMs >= t0) ?? [];
    const measurement = measureFailover({
      samples,
      victim: victim.backend.id,
      pool: pool.configName,
      serverName,
      faultAtMs,
      ...(undoAtMs !== undefined ? { undoAtMs } : {}),
      resolutionMs: probe.intervalMs,
      lbEvents,
      detectBudgetMs: detectBudget,
    });
    const timeline = {
      target: ctx.target,
      pool: pool.configName,
      victim: victim.backend.id,
      serverName,
      probeRatePerSec: ctx.failover.probeRatePerSec,
      resolutionMs: probe.intervalMs,
      timeScale: ctx.failover.timeScale,
      budgetsMs: ctx.failover.budgetsMs,
      originEpochMs: t0,
      faultAtMs: Math.round(faultAtMs - t0),
      undoAtMs: undoAtMs === undefined ? null : Math.round(undoAtMs - t0),
      phases,
      lbEvents: lbEvents.map((e) => ({ ...e, atMs: Math.round(e.atMs - t0) })),
      measurement,
      samples: samples.map((s) => ({ ...s, sentAtMs: Math.round((s.sentAtMs - t0) * 10) / 10, latencyMs: Math.round(s.latencyMs * 100) / 100 })),
    };
    const jsonFile = join(ctx.artifactDir, 'failover-timeline.json');
    const csvFile = join(ctx.artifactDir, 'failover-timeline.csv');
    await writeFile(jsonFile, JSON.stringify(timeline) + '\n');
    await writeFile(csvFile, samplesCsv(samples, t0));
    return {
      pool: pool.configName,
      victim: victim.backend.id,
      serverName,
      measurement,
      lbEvents: timeline.lbEvents.map((e) => ({ atMs: e.atMs, server: e.server, state: e.state, reason: e.reason })),
      phases,
      ...(problem ? { problem } : {}),
      timelineFiles: [jsonFile, csvFile],
    };
  });
}

/** Starts a probe on the pool and waits for a steady state with every primary answering; throws DrillProblem if none comes. */
export async function steadyProbe(ctx: CheckContext, pool: PoolBinding, backends: readonly BackendBinding[] = pool.primaries): Promise<ProbeStream> {
  const probe = ctx.probe({ path: probePath(pool) });
  const ids = backends.map((b) => b.backend.id);
  const ok = await waitForProbe(probe, (s) => steady(s, STEADY_SUCCESSES, ids), steadyTimeoutMs(ctx), ctx.signal);
  if (!ok) {
    const seen = lastSecond(probe.samples);
    await probe.stop();
    throw new DrillProblem(`no steady state: wanted ${STEADY_SUCCESSES} consecutive 2xx answered by all of ${ids.join(', ')}; last second: ${JSON.stringify(seen.byBackend)}`);
  }
  return probe;
}

/** Waits for the LB's own report that a server reached `state` (runtime API), or for the traffic to show it; returns ms since `sinceMs` or undefined. */
export async function waitLbState(ctx: CheckContext, pool: PoolBinding, server: BackendBinding, state: 'down' | 'up', sinceMs: number, timeoutMs: number): Promise<number | undefined> {
  if (!ctx.runtime) return undefined;
  const event = await ctx.runtime.waitForState(pool.configName, ctx.serverName(server), state, sinceMs, timeoutMs);
  return event ? event.atMs - sinceMs : undefined;
}
