import { relative } from 'node:path';
import { BUDGET_DEFAULTS_MS } from '../contracts/budgets.ts';
import { formatMs, parseDurationMs } from '../duration.ts';
import { REPO_ROOT } from '../paths.ts';
import type { Profile } from '../profiles/profile.ts';
import type { Scenario, ScenarioAssertion } from '../scenarios/scenario.ts';

/** One weighted request of the traffic mix. */
export interface K6Route {
  path: string;
  weight: number;
  /** basic-auth credentials the contract gives this path's pool. */
  basicAuth?: { user: string; password: string };
}

/** A k6 threshold lbdrill derives from a budget or an assertion, with where it comes from. */
export interface K6Threshold {
  /** k6's built-in metrics, or the script's own count of non-2xx answers. */
  metric: 'http_req_failed' | 'http_req_duration' | 'lbdrill_failed_requests';
  /** k6 threshold syntax: `rate<=0.01`, `p(99)<=500`, `count<=4000`. */
  expression: string;
  /** one line: the budget or assertion it expresses. */
  why: string;
}

/** What a k6 script drives and judges: traffic of a profile or a scenario, thresholds from its budgets and assertions. */
export interface K6Plan {
  /** "profile haproxy-role" or "scenario api-slow-then-unhealthy". */
  source: string;
  /** the file it was made from, relative to the repository when inside it. */
  file: string;
  title: string;
  ratePerSec: number;
  durationMs: number;
  /** requests in flight at most (k6 VUs of the constant-arrival-rate executor). */
  maxInFlight: number;
  timeoutMs: number;
  mix: K6Route[];
  thresholds: K6Threshold[];
  /** budgets and assertions a k6 summary cannot judge, each with why and what measures it. */
  notExpressible: string[];
}

/** A profile states no traffic length or client limits; these are the scenario defaults (harness/scenarios/scenario.ts). */
const PROFILE_TRAFFIC = { durationMs: 60_000, maxInFlight: 256, timeoutMs: 5_000 };
/** The assertion metrics that are latency percentiles, with k6's name for the statistic. */
const PERCENTILES: Partial<Record<ScenarioAssertion['metric'], string>> = { p50_latency_ms: 'p(50)', p95_latency_ms: 'p(95)', p99_latency_ms: 'p(99)' };
const MEASURED_BY_LBDRILL = 'needs the backend of every response: lbdrill measures it (lbdrill run, or drill failover --deployment for a deployed pool)';

function shownFile(file: string): string {
  const rel = relative(REPO_ROOT, file);
  return rel.startsWith('..') ? file : rel;
}

function authFor(profile: Profile, pool: string): K6Route['basicAuth'] {
  const users = Object.entries(profile.auth?.users ?? {});
  // the user the contract sends to this pool, else any user (routing by path still needs credentials)
  const [user, entry] = users.find(([, u]) => u.pool === pool) ?? users[0] ?? [];
  return user === undefined ? undefined : { user, password: entry!.password };
}

/** The failed requests one failover may cost when the LB detects it within `detectMs`: every request of that window, at worst. */
function failoverErrorBound(detectMs: number, ratePerSec: number): number {
  return Math.ceil((detectMs / 1000) * ratePerSec);
}

/**
 * A profile as k6 load: each pool's probe path in equal shares at the profile's probe rate,
 * and the detect budget as a bound on failed requests (a server killed during the run may cost
 * at most the requests of the detect window). Budgets are at time scale 1: a deployed pool runs
 * its config's real intervals.
 */
export function k6PlanFromProfile(profile: Profile, options: { durationMs?: number } = {}): K6Plan {
  const rate = profile.failover.probe_rate;
  const mix: K6Route[] = profile.pools.map((p) => {
    const basicAuth = authFor(profile, p.name);
    return { path: p.probe_path, weight: 1, ...(basicAuth ? { basicAuth } : {}) };
  });
  // profiles write budgets as text ("20s"), validated when the profile was loaded
  const budgets = Object.entries(profile.failover.budgets).map(([name, text]) => [name, parseDurationMs(text)!] as const);
  const detectMs = budgets.find(([name]) => name === 'detect')?.[1] ?? BUDGET_DEFAULTS_MS.detect;
  const bound = failoverErrorBound(detectMs, rate);
  const others = budgets.filter(([name]) => name !== 'detect');
  return {
    source: `profile ${profile.name}`,
    file: shownFile(profile.file),
    title: profile.title,
    ratePerSec: rate,
    durationMs: options.durationMs ?? PROFILE_TRAFFIC.durationMs,
    maxInFlight: PROFILE_TRAFFIC.maxInFlight,
    timeoutMs: PROFILE_TRAFFIC.timeoutMs,
    mix: mix.length > 0 ? mix : [{ path: '/', weight: 1 }],
    thresholds: [
      {
        metric: 'lbdrill_failed_requests',
        expression: `count<=${bound}`,
        why: `detect budget ${formatMs(detectMs)}: one server killed during the run costs at most ${formatMs(detectMs)} × ${rate} req/s failed requests`,
      },
    ],
    notExpressible: [`detect ${formatMs(detectMs)} as a time, ${others.map(([n, ms]) => `${n} ${formatMs(ms)}`).join(', ') || 'rejoin'}: ${MEASURED_BY_LBDRILL}`],
  };
}

/**
 * A scenario's traffic (rate, in-flight cap, timeout, weighted mix, duration) and the
 * assertions k6 can judge from its own metrics: success rate, error count, latency
 * percentiles, and the failed requests its faults may cost (each fault's detect_ms bound
 * × rate + its errors_after_detect bound). Per-fault times stay with lbdrill.
 */
export function k6PlanFromScenario(scenario: Scenario & { assertions: ScenarioAssertion[] }, profile: Profile): K6Plan {
  const { traffic } = scenario;
  const mix = traffic.mix ?? [{ path: profile.pools[0]?.probe_path ?? '/', weight: 1 }];
  const thresholds: K6Threshold[] = [];
  const notExpressible: string[] = [];
  for (const a of scenario.assertions) {
    const percentile = PERCENTILES[a.metric];
    if (a.metric === 'success_rate' && a.min !== undefined) {
      thresholds.push({ metric: 'http_req_failed', expression: `rate<=${Number((1 - a.min).toFixed(6))}`, why: `success_rate >= ${a.min}` });
    } else if (a.metric === 'errors' && a.max !== undefined) {
      thresholds.push({ metric: 'lbdrill_failed_requests', expression: `count<=${a.max}`, why: `errors <= ${a.max}` });
    } else if (percentile !== undefined && a.max !== undefined) {
      thresholds.push({ metric: 'http_req_duration', expression: `${percentile}<=${a.max}`, why: `${a.metric} <= ${formatMs(a.max)}` });
    } else if (a.metric === 'errors_after_detect') {
      continue; // folded into the failover bound below
    } else {
      notExpressible.push(`${a.metric}${a.fault !== undefined ? `[${a.fault}]` : ''}: ${MEASURED_BY_LBDRILL}`);
    }
  }
  const perFault = scenario.timeline.map((_, i) => ({
    detect: scenario.assertions.find((a) => a.metric === 'detect_ms' && a.fault === i)?.max,
    after: scenario.assertions.find((a) => a.metric === 'errors_after_detect' && a.fault === i)?.max,
  }));
  const judged = perFault.filter((f) => f.after !== undefined);
  if (judged.length > 0 && judged.every((f) => f.detect !== undefined)) {
    const bound = judged.reduce((n, f) => n + failoverErrorBound(f.detect!, traffic.rate) + f.after!, 0);
    thresholds.push({
      metric: 'lbdrill_failed_requests',
      expression: `count<=${bound}`,
      why: `errors_after_detect with detect_ms bounds: each fault may cost its detect window × ${traffic.rate} req/s, plus the errors it allows after detection`,
    });
  } else if (judged.length > 0) {
    notExpressible.push(`errors_after_detect: a fault without a detect_ms bound gives no error count to bound; ${MEASURED_BY_LBDRILL}`);
  }
  return {
    source: `scenario ${scenario.name}`,
    file: shownFile(scenario.file),
    title: scenario.title,
    ratePerSec: traffic.rate,
    durationMs: scenario.duration,
    maxInFlight: traffic.concurrency,
    timeoutMs: traffic.timeout,
    mix,
    thresholds,
    notExpressible,
  };
}
