import { DrillProblem, fail, type Check, type CheckContext, type CheckOutcome, type CheckResult, type Severity } from '../checks/check.ts';
import { LbdrillError } from '../errors.ts';
import { FaultController } from '../faults/fault-controller.ts';
import type { ProbeStream } from '../probe/probe-stream.ts';
import type { StartedWsFleet } from '../ws/ws-fleet.ts';

/** Upper bound for one check; a check that runs longer ends as `error`. */
const CHECK_TIMEOUT_MS = 10 * 60_000;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LbdrillError('LBDRILL_ERR_TIMEOUT', `${what} did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** What one check may start and must leave behind: its abort signal, faults, probe streams and WebSocket fleets. */
export class CheckScope {
  readonly controller = new AbortController();
  readonly faults: FaultController;
  readonly probes: ProbeStream[] = [];
  readonly fleets: StartedWsFleet[] = [];

  constructor(seed: number) {
    this.faults = new FaultController({ seed, signal: this.controller.signal });
  }
}

/**
 * Runs one check against a context built for it, whatever runs the target (lbdrill's own
 * processes or a deployed pool): bounded in time, a DrillProblem is the check's `fail`, and
 * whatever happens its probes and fleets stop and every fault it applied is undone.
 */
export async function executeCheck(options: {
  check: Check;
  severity: Severity;
  target: string;
  ctx: CheckContext;
  scope: CheckScope;
  /** set when the LB under test died: a check that did not pass is an error of the run, not a verdict. */
  crashed: () => string | undefined;
}): Promise<CheckResult> {
  const { check, ctx, scope } = options;
  const base = { check: check.id, title: check.title, target: options.target, severity: options.severity };
  const t0 = performance.now();
  let outcome: CheckOutcome | undefined;
  let error: string | undefined;
  try {
    outcome = await withTimeout(check.run(ctx), CHECK_TIMEOUT_MS, check.id);
  } catch (err) {
    if (err instanceof DrillProblem) outcome = fail(check.title, err.message);
    else error = (err as Error).message;
  } finally {
    scope.controller.abort();
    await Promise.allSettled([...scope.probes.map((p) => p.stop()), ...scope.fleets.map((f) => f.close())]);
    // A fault left applied would poison the next check: undo is part of every check.
    try {
      await scope.faults.undoAll();
    } catch (err) {
      error ??= (err as Error).message;
    }
  }
  const durationMs = Math.round(performance.now() - t0);
  const crashed = options.crashed();
  if (crashed && outcome?.status !== 'pass') error = crashed;
  return error
    ? { ...base, status: 'error', durationMs, expected: check.title, observed: error, evidence: outcome?.evidence ?? {} }
    : { ...base, status: outcome!.status, durationMs, expected: outcome!.expected, observed: outcome!.observed, evidence: outcome!.evidence };
}
