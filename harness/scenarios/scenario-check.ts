import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as hdr from 'hdr-histogram-js';
import { fail, pass, type BackendBinding, type Check, type CheckContext } from '../checks/check.ts';
import { lastSecond, steady, steadyTimeoutMs, waitForProbe } from '../checks/failover-sequence.ts';
import { formatMs } from '../duration.ts';
import { LbdrillError } from '../errors.ts';
import type { AppliedFault } from '../faults/fault.ts';
import { seededRandom } from '../faults/seeded-random.ts';
import { measureFailover, samplesCsv, type FailoverMeasurement } from '../probe/failover-timeline.ts';
import { isClientError, nowMs } from '../probe/probe-stream.ts';
import { PER_FAULT_METRICS, type Metric, type Scenario, type ScenarioAssertion } from './scenario.ts';
import { k6PlanFromScenario } from '../k6/k6-plan.ts';
import type { Profile } from '../profiles/profile.ts';
import { runK6, type K6LoadRun, type K6Target } from '../k6/run-k6.ts';

type LoadedScenario = Scenario & { assertions: ScenarioAssertion[] };

const MS_METRICS: ReadonlySet<Metric> = new Set(['p50_latency_ms', 'p95_latency_ms', 'p99_latency_ms', 'detect_ms', 'rejoin_ms']);

function show(metric: Metric, value: number): string {
  if (MS_METRICS.has(metric)) return formatMs(value);
  if (metric === 'success_rate') return `${(value * 100).toFixed(2)}%`;
  return String(value);
}

/** Picks the request path of probe `seq` from the weighted mix, the same for the same seed. */
function pathPicker(scenario: LoadedScenario, fallback: string, seed: number): (seq: number) => string {
  const mix = scenario.traffic.mix ?? [{ path: fallback, weight: 1 }];
  const total = mix.reduce((a, m) => a + m.weight, 0);
  const random = seededRandom(seed);
  const picks: string[] = [];
  return (seq) => {
    while (picks.length <= seq) {
      let r = random() * total;
      const m = mix.find((x) => (r -= x.weight) < 0) ?? mix[mix.length - 1]!;
      picks.push(m.path);
    }
    const path = picks[seq]!;
    return `${path}${path.includes('?') ? '&' : '?'}lbdrill-probe=${seq}`;
  };
}

/** `--load k6`: the scenario's traffic also goes through this k6 binary, its thresholds judged with the assertions. */
export interface K6Load {
  bin: string;
  profile: Profile;
}

/** A scenario as a check: runs its traffic and fault timeline on one target and judges its assertions. */
export function scenarioCheck(scenario: LoadedScenario, options: { k6?: K6Load } = {}): Check {
  const needsProxy = scenario.timeline.some((s) => ['latency', 'bandwidth', 'reset_peer', 'timeout', 'slicer', 'limit_data', 'slow_close'].includes(s.fault));
  return {
    id: `scenario.${scenario.name}`,
    title: scenario.title,
    severity: 'must',
    needs: [],
    disruptive: true,
    networkFaults: needsProxy,
    linkFaults: scenario.timeline.some((s) => s.fault === 'link_down' || s.fault === 'partition'),
    validateTopology(backendIds: readonly string[], where: string) {
      scenario.timeline.forEach((step, i) => {
        if (!backendIds.includes(step.backend)) {
          throw new LbdrillError('LBDRILL_ERR_SCENARIO_INVALID', `${scenario.file}: timeline[${i}].backend: no backend "${step.backend}" in ${where} (backends: ${backendIds.join(', ')})`);
        }
      });
    },
    async run(ctx: CheckContext) {
      const expected = scenario.assertions.map((a) => `${a.metric}${a.fault !== undefined ? `[${a.fault}]` : ''} ${a.max !== undefined ? `<= ${show(a.metric, a.max)}` : ''}${a.min !== undefined ? ` >= ${show(a.metric, a.min)}` : ''}`).join('; ');
      const pool = ctx.pools[0];
      const probe = ctx.probe({
        path: pathPicker(scenario, pool?.probePath ?? '/', ctx.seed),
        ratePerSec: scenario.traffic.rate,
        maxInFlight: scenario.traffic.concurrency,
        timeoutMs: scenario.traffic.timeout,
      });
      if (!(await waitForProbe(probe, (s) => steady(s, scenario.steady, []), steadyTimeoutMs(ctx), ctx.signal))) {
        await probe.stop();
        return fail(expected, `no steady state: wanted ${scenario.steady} consecutive 2xx before the timeline starts`);
      }
      const t0 = nowMs();
      // lbdrill's probe keeps timing detection per backend (k6's summary names none); k6 sends the traffic as load beside it
      const k6Run: Promise<K6LoadRun> | undefined = options.k6 && runK6({ bin: options.k6.bin, plan: k6PlanFromScenario(scenario, options.k6.profile), target: await k6Target(ctx), dir: ctx.artifactDir, name: scenario.name, signal: ctx.signal });
      // awaited after the timeline: a k6 failing sooner must not be an unhandled rejection meanwhile
      k6Run?.catch(() => undefined);
      const byId = new Map<string, BackendBinding>(ctx.backends.map((b) => [b.backend.id, b]));
      const applied: Array<{ fault?: AppliedFault; appliedAtMs?: number; undoneAtMs?: number }> = scenario.timeline.map(() => ({}));
      const timers: NodeJS.Timeout[] = [];
      const problems: string[] = [];
      const at = (ms: number, fn: () => Promise<void>) => timers.push(setTimeout(() => void fn().catch((err: Error) => problems.push(err.message)), Math.max(0, t0 + ms - nowMs())));
      scenario.timeline.forEach((step, i) => {
        at(step.at, async () => {
          const fault = await ctx.faults.apply(
            { type: step.fault, ...(step.attributes ? { attributes: step.attributes } : {}), ...(step.stream ? { stream: step.stream } : {}), ...(step.toxicity !== undefined ? { toxicity: step.toxicity } : {}) },
            ctx.site(byId.get(step.backend)!),
            `timeline[${i}]`,
          );
          applied[i] = { fault, appliedAtMs: nowMs() };
        });
        if (step.until !== undefined) {
          at(step.until, async () => {
            const a = applied[i]!;
            await a.fault?.undo();
            a.undoneAtMs = nowMs();
          });
        }
      });
      const ticker = setInterval(() => {
        const elapsed = nowMs() - t0;
        const active = scenario.timeline.filter((s, i) => applied[i]?.fault && applied[i]?.undoneAtMs === undefined).map((s) => `${s.fault} ${s.backend}`);
        const live = lastSecond(probe.samples);
        ctx.status({ phase: active.length ? active.join(', ') : 'no fault', elapsedMs: elapsed, lastSecond: live.byBackend, errors: probe.samples.filter((s) => s.sentAtMs >= t0 && isClientError(s)).length });
      }, 250);
      try {
        await new Promise((r) => setTimeout(r, scenario.duration));
      } finally {
        clearInterval(ticker);
        for (const t of timers) clearTimeout(t);
      }
      const samples = (await probe.stop()).filter((s) => s.sentAtMs >= t0);
      await ctx.faults.undoAll();
      const k6 = k6Run && (await k6Run);
      const crossed = (k6?.thresholds ?? []).filter((t) => t.crossed).map((t) => `${t.metric} ${t.expression}`);
      if (crossed.length > 0) problems.push(`k6 threshold(s) crossed: ${crossed.join(', ')}`);

      const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
      for (const s of samples) if (!isClientError(s)) histogram.recordValue(Math.max(1, Math.round(s.latencyMs * 1000)));
      const pct = (p: number) => Math.round(histogram.getValueAtPercentile(p)) / 1000;
      const errors = samples.filter(isClientError).length;
      const detectBound = (fault: number): { detectBudgetMs?: number } => {
        const bound = scenario.assertions.find((a) => a.metric === 'detect_ms' && a.fault === fault)?.max ?? ctx.failover.budgetsMs['detect'];
        return bound === undefined ? {} : { detectBudgetMs: bound };
      };
      const perFault: Array<FailoverMeasurement | null> = scenario.timeline.map((step, i) => {
        const a = applied[i]!;
        const b = byId.get(step.backend)!;
        if (a.appliedAtMs === undefined) return null;
        return measureFailover({
          samples,
          victim: step.backend,
          pool: b.upstream.pool,
          serverName: ctx.serverName(b),
          faultAtMs: a.appliedAtMs,
          ...(a.undoneAtMs !== undefined ? { undoAtMs: a.undoneAtMs } : {}),
          resolutionMs: probe.intervalMs,
          ...(ctx.runtime ? { lbEvents: ctx.runtime.events } : {}),
          // without an LB report, errors after the fault's detect_ms bound (else the profile's budget) count as after detection
          ...detectBound(i),
        });
      });
      const overall: Partial<Record<Metric, number>> = {
        errors,
        success_rate: samples.length === 0 ? 0 : (samples.length - errors) / samples.length,
        p50_latency_ms: pct(50),
        p95_latency_ms: pct(95),
        p99_latency_ms: pct(99),
      };
      const value = (a: ScenarioAssertion): number | null => {
        if (!PER_FAULT_METRICS.has(a.metric)) return overall[a.metric] ?? null;
        const m = perFault[a.fault!];
        if (!m) return null;
        return a.metric === 'detect_ms' ? m.detectMs : a.metric === 'rejoin_ms' ? m.rejoinMs : m.errorsAfterDetect;
      };
      const verdicts = scenario.assertions.map((a) => {
        const v = value(a);
        const ok = v !== null && (a.max === undefined || v <= a.max) && (a.min === undefined || v >= a.min);
        return { ...a, value: v, ok };
      });
      const jsonFile = join(ctx.artifactDir, `scenario-${scenario.name}.json`);
      await writeFile(jsonFile, JSON.stringify({ scenario: scenario.name, originEpochMs: t0, timeline: scenario.timeline.map((s, i) => ({ ...s, appliedAtMs: applied[i]!.appliedAtMs === undefined ? null : Math.round(applied[i]!.appliedAtMs! - t0), undoneAtMs: applied[i]!.undoneAtMs === undefined ? null : Math.round(applied[i]!.undoneAtMs! - t0), description: applied[i]!.fault?.description ?? null })), metrics: overall, perFault, verdicts }) + '\n');
      await writeFile(join(ctx.artifactDir, `scenario-${scenario.name}.csv`), samplesCsv(samples, t0));
      const evidence = { metrics: overall, perFault, verdicts, requests: samples.length, skippedSends: probe.skipped, resolutionMs: probe.intervalMs, timeline: jsonFile, problems, ...(k6 ? { k6 } : {}) };
      const observed = verdicts.map((v) => `${v.metric}${v.fault !== undefined ? `[${v.fault}]` : ''}=${v.value === null ? 'n/a' : show(v.metric, v.value)}${v.ok ? '' : ' ✗'}`).join(', ');
      if (problems.length > 0) return fail(expected, `${problems[0]}; ${observed}`, evidence);
      return verdicts.every((v) => v.ok) ? pass(expected, `${observed} over ${samples.length} requests`, evidence) : fail(expected, `${observed} over ${samples.length} requests`, evidence);
    },
  };
}

/** Where k6 reaches this target: the app listener by the name the config serves, the run's CA trusted. */
async function k6Target(ctx: CheckContext): Promise<K6Target> {
  const { app } = ctx;
  const caFile = join(ctx.artifactDir, 'k6-ca.pem');
  await writeFile(caFile, ctx.caPem);
  return { url: `${app.tls ? 'https' : 'http'}://${app.serverName}:${app.port}`, resolve: `${app.serverName}=${app.host}`, caFile };
}
