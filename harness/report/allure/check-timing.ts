import type { CheckResult } from '../../checks/check.ts';
import type { RunReport } from '../run-report.ts';

/** When a check ran, in epoch ms, for Allure's timeline and durations. */
export interface CheckTiming {
  start: number;
  stop: number;
}

/**
 * report.json keeps each check's duration, not its start: the checks are laid end to end from the
 * run's start in the order they ran (targets one after another, as the runner runs them). Each
 * duration is exact; a start is early by the target setup time before it.
 */
export function checkTimings(report: Pick<RunReport, 'startedAt' | 'results'>): Map<CheckResult, CheckTiming> {
  const timings = new Map<CheckResult, CheckTiming>();
  let at = Date.parse(report.startedAt);
  for (const result of report.results) {
    const stop = at + Math.max(0, Math.round(result.durationMs));
    timings.set(result, { start: at, stop });
    at = stop;
  }
  return timings;
}
