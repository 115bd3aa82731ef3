import type { CheckResult } from '../../checks/check.ts';
import type { FailoverMeasurement } from '../../probe/failover-timeline.ts';
import type { RunReport } from '../run-report.ts';
import type { CellPair } from './compare-cells.ts';

/** A number a check measured, as the diff compares it. */
export interface Reading {
  /** "detection", "rejoin", "share of api-1", "throughput". */
  name: string;
  unit: 'ms' | 'share' | 'MiB/s';
  value: number;
}

/** One measurement of one cell in both runs, with the change the diff allows for it. */
export interface MeasurementDelta {
  check: string;
  target: string;
  name: string;
  unit: Reading['unit'];
  base: number;
  new: number;
  /** the range a rerun of the same config stays in, in `unit`. */
  min: number;
  max: number;
  /** how the range was reached, with the numbers ("±(20% = 22 ms + health-check interval 500 ms)"). */
  rule: string;
  /** `new` is outside [min, max]. */
  beyond: boolean;
}

/** The values of a measurement that are no change from `base`. */
interface Range {
  min: number;
  max: number;
  rule: string;
}

function around(base: number, by: number, rule: string): Range {
  return { min: base - by, max: base + by, rule };
}

/** Where a check puts a number, and how much it may move between reruns of the same config. */
interface MeasureRule {
  /** what is measured, as the tolerance list names it. */
  what: string;
  checks: readonly string[];
  /** the rule as --help and the diff state it. */
  tolerance: string;
  read(result: CheckResult): Reading[];
  range(base: number, result: CheckResult, report: RunReport): Range;
}

/**
 * Detection and rejoin follow the health checks: a server killed or restarted at a random point of
 * the check cycle is seen up to one interval sooner or later, on top of scheduling jitter on a loaded
 * machine. Measured on reruns of one config at --time-scale 0.1: the reference LB's rejoin 1132 vs
 * 887 ms (500 ms intervals); nginx's rejoin (passive only, fail_timeout 1 s that nginx's 1 s clock
 * lengthens by up to 900 ms) 1921, 1491 and 11 ms: the server is retried as soon as the window since
 * its last failure ends, which may be before it is back. So a change counts beyond 20% of the base
 * value plus one interval (the passive window `in N ms` where the config has only passive checks)
 * plus what lbdrill's scaling lengthened the config's timings by.
 */
const TIMING_SHARE = 0.2;
/**
 * Shares of balance.weights: the check's own ±0.03 bound. Reruns of sysmanage's bundled configs moved
 * a share by at most 0.003 here; the check's notes put every run within 0.015 of the target, so two
 * runs of one config may differ by up to 0.03.
 */
const SHARE_POINTS = 0.03;
/**
 * Blob throughput follows the machine's load more than the config: three runs of shakenfist-api's
 * bundled configs on this shared 2-core machine gave the same transfer 18.9, 41.8 and 243 MiB/s
 * (12.9x), so only a change beyond a factor of 16 counts: a collapse (a rate limit, a slow path), not
 * a trend. Buffering itself is judged by the stream.*-unbuffered checks, as a status.
 */
const THROUGHPUT_FACTOR = 16;

const ms = (n: number): string => `${Math.round(n)} ms`;

/** The pool's health-check interval (or passive window) as bound in the config, times the run's time scale. */
export function healthIntervalMs(report: RunReport, target: string, configPool: string): number | undefined {
  const bindings = report.targets.find((t) => t.name === target)?.bindings ?? [];
  const role = bindings.find((b) => b.what.startsWith('pool ') && (b.value === configPool || b.value.startsWith(`${configPool} `)))?.what.slice('pool '.length);
  const health = role === undefined ? undefined : bindings.find((b) => b.what === `health check of ${role}`);
  const m = health && /(?:every|in) (\d+) ms/.exec(health.value);
  return m ? Number(m[1]) * (report.failover?.timeScale ?? 1) : undefined;
}

function failoverReading(name: string, key: 'detectMs' | 'rejoinMs'): (r: CheckResult) => Reading[] {
  return (r) => {
    const value = (r.evidence['measurement'] as FailoverMeasurement | undefined)?.[key];
    return typeof value === 'number' ? [{ name, unit: 'ms', value }] : [];
  };
}

/** How much longer than the scaled value lbdrill had to give the target's timings (nginx's whole seconds), in ms. */
function scalingSlackMs(report: RunReport, target: string): number {
  return Math.max(0, ...(report.targets.find((t) => t.name === target)?.mapped ?? []).map((m) => m.lengthenedMs ?? 0));
}

function timingRange(base: number, result: CheckResult, report: RunReport): Range {
  const pool = result.evidence['pool'];
  const interval = typeof pool === 'string' ? healthIntervalMs(report, result.target, pool) : undefined;
  const slack = scalingSlackMs(report, result.target);
  const share = base * TIMING_SHARE;
  const parts = [`${TIMING_SHARE * 100}% = ${ms(share)}`, interval === undefined ? 'no health-check interval bound' : `health-check interval ${ms(interval)}`, ...(slack > 0 ? [`${ms(slack)} lbdrill's scaling added`] : [])];
  return around(base, share + (interval ?? 0) + slack, `±(${parts.join(' + ')})`);
}

const TIMING_TOLERANCE = `±(${TIMING_SHARE * 100}% + one health-check interval of the pool as run: its "every N ms", or "in N ms" for passive-only checks, times --time-scale, + what lbdrill's scaling lengthened the config's timings by)`;

const RULES: readonly MeasureRule[] = [
  { what: 'failover detection time', checks: ['failover.detect-within-budget'], tolerance: TIMING_TOLERANCE, read: failoverReading('detection', 'detectMs'), range: timingRange },
  { what: 'failover rejoin time', checks: ['failover.rejoin-within-budget'], tolerance: TIMING_TOLERANCE, read: failoverReading('rejoin', 'rejoinMs'), range: timingRange },
  {
    what: 'weight shares',
    checks: ['balance.weights'],
    tolerance: `±${SHARE_POINTS} of the traffic per server (the check's own bound)`,
    read: (r) => {
      const rows = r.evidence['rows'];
      if (!Array.isArray(rows)) return [];
      return rows.flatMap((row: { backend?: unknown; share?: unknown }) => (typeof row.backend === 'string' && typeof row.share === 'number' ? [{ name: `share of ${row.backend}`, unit: 'share' as const, value: row.share }] : []));
    },
    range: (base) => around(base, SHARE_POINTS, `±${SHARE_POINTS}`),
  },
  {
    what: 'blob throughput',
    checks: ['stream.upload-large', 'stream.download-large'],
    tolerance: `a factor of ${THROUGHPUT_FACTOR} either way (base / ${THROUGHPUT_FACTOR} .. base x ${THROUGHPUT_FACTOR} MiB/s)`,
    read: (r) => (typeof r.evidence['mibPerSec'] === 'number' ? [{ name: 'throughput', unit: 'MiB/s', value: r.evidence['mibPerSec'] }] : []),
    range: (base) => ({ min: base / THROUGHPUT_FACTOR, max: base * THROUGHPUT_FACTOR, rule: `a factor of ${THROUGHPUT_FACTOR}` }),
  },
];

/** Each measured quantity and its tolerance, for --help and the diff's own text. */
export const TOLERANCES: ReadonlyArray<Pick<MeasureRule, 'what' | 'checks' | 'tolerance'>> = RULES.map(({ what, checks, tolerance }) => ({ what, checks, tolerance }));

/** Every measurement both runs have for a cell, with its change and whether that exceeds the tolerance. */
export function compareMeasurements(pairs: readonly CellPair[], base: RunReport): MeasurementDelta[] {
  return pairs.flatMap((p) => {
    const rule = RULES.find((r) => r.checks.includes(p.check));
    if (!rule || !p.base || !p.new) return [];
    const before = new Map(rule.read(p.base).map((r) => [r.name, r]));
    return rule.read(p.new).flatMap((after) => {
      const was = before.get(after.name);
      if (!was) return [];
      const range = rule.range(was.value, p.base!, base);
      return [{ check: p.check, target: p.target, name: after.name, unit: after.unit, base: was.value, new: after.value, ...range, beyond: after.value < range.min || after.value > range.max }];
    });
  });
}
