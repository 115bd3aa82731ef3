import type { CheckResult } from '../checks/check.ts';
import type { Binding } from '../contracts/binding.ts';
import type { StartupCost } from '../process/lb-process.ts';
import { runChecks, type PlannedCheck } from './run-checks.ts';
import { startTarget, type StartTargetOptions } from './start-target.ts';

/** What one target's run produced. */
export interface TargetRun {
  results: CheckResult[];
  /** what lbdrill read from the config for the contract, and from where. */
  bindings: Binding[];
  /** set when the LB under test died during the run. */
  crashed?: string;
  /** what starting a containerized LB cost, up to serving. */
  startup?: StartupCost & { readyMs: number };
}

/**
 * Starts a prepared target (backends, LB, runtime view, bindings), runs the planned checks
 * against it and disposes all of it again, whatever happens in between.
 */
export async function runTarget(options: StartTargetOptions & { checks: readonly PlannedCheck[] }): Promise<TargetRun> {
  await using target = await startTarget(options);
  const results = await runChecks(target, options.checks, options.seed, options.onEvent);
  const crashed = target.stopped();
  return { results, bindings: [...target.bindings], ...(crashed ? { crashed } : {}), ...(target.startup ? { startup: target.startup } : {}) };
}
