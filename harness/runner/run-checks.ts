import type { Check, CheckResult, DrillStatus, Severity } from '../checks/check.ts';
import type { Binding } from '../contracts/binding.ts';
import { CheckScope, executeCheck } from './execute-check.ts';
import type { StartedTarget } from './started-target.ts';

/** A check as a profile lists it: which one, and how much it matters there. */
export interface PlannedCheck {
  check: Check;
  severity: Severity;
  /** the profile pool the check acts on, for checks that need one. */
  pool?: string;
}

/** Progress events for the terminal view. */
export type RunEvent =
  | { type: 'target-start'; target: string; detail: string }
  | { type: 'bindings'; target: string; bindings: readonly Binding[] }
  | { type: 'check-start'; target: string; check: string }
  | { type: 'check-progress'; target: string; check: string; message: string }
  | { type: 'drill-status'; target: string; check: string; status: DrillStatus }
  | { type: 'check-done'; result: CheckResult };

/**
 * Runs the planned checks against a started target, in the order that keeps them apart:
 * background checks alongside the ordinary ones, disruptive ones (faults, drains) last. A check
 * the target cannot express is `unsupported`, one whose pool it lacks `fail`s with the reason,
 * and once the target stopped serving the rest are `error`s, not verdicts. Results come back in
 * the profile's order.
 */
export async function runChecks(target: StartedTarget, checks: readonly PlannedCheck[], seed: number, onEvent: (event: RunEvent) => void): Promise<CheckResult[]> {
  const runOne = async (planned: PlannedCheck): Promise<CheckResult> => {
    const { check, severity } = planned;
    const base = { check: check.id, title: check.title, target: target.name, severity };
    const missing = check.needs.map((f) => target.unsupported[f]).find((reason) => reason !== undefined);
    if (missing) return { ...base, status: 'unsupported', durationMs: 0, expected: check.title, observed: missing, evidence: { needs: check.needs } };
    const stopped = target.stopped();
    if (stopped) return { ...base, status: 'error', durationMs: 0, expected: check.title, observed: stopped, evidence: {} };
    // A check planned without a pool acts on the target's first (a deployed pool has one).
    const poolName = planned.pool ?? target.pools[0]?.name;
    const pool = poolName === undefined ? undefined : target.pools.find((p) => p.name === poolName);
    if (check.needsPool && !pool) {
      const reason = poolName === undefined ? 'the profile declares no pool' : (target.missingPools.get(poolName)?.reason ?? `no pool ${poolName}`);
      return { ...base, status: 'fail', durationMs: 0, expected: check.title, observed: `no pool for the profile's ${poolName ?? 'pools'}: ${reason}`, evidence: { missingPool: poolName ?? null } };
    }
    onEvent({ type: 'check-start', target: target.name, check: check.id });
    const scope = new CheckScope(seed);
    const ctx = target.context({ id: check.id, pool }, scope, {
      status: (status) => onEvent({ type: 'drill-status', target: target.name, check: check.id, status }),
      progress: (message) => onEvent({ type: 'check-progress', target: target.name, check: check.id, message }),
    });
    const result = await executeCheck({ check, severity, target: target.name, ctx, scope, crashed: () => target.stopped() });
    onEvent({ type: 'check-done', result });
    return result;
  };

  const background = checks.filter((p) => p.check.background && !p.check.disruptive);
  const foreground = checks.filter((p) => !p.check.background && !p.check.disruptive);
  const disruptive = checks.filter((p) => p.check.disruptive);
  const backgroundRuns = background.map((p) => runOne(p));
  const byId = new Map<string, CheckResult>();
  for (const p of foreground) byId.set(p.check.id, await runOne(p));
  for (const [i, r] of (await Promise.all(backgroundRuns)).entries()) byId.set(background[i]!.check.id, r);
  for (const p of disruptive) byId.set(p.check.id, await runOne(p));
  return checks.map((p) => byId.get(p.check.id)!);
}
