import type { CheckContext, DrillStatus, PoolBinding } from '../checks/check.ts';
import type { Binding } from '../contracts/binding.ts';
import type { StartupCost } from '../process/lb-process.ts';
import type { Feature } from '../targets/target-kind.ts';
import type { CheckScope } from './execute-check.ts';

/** What one check reports while it runs, for the live view. */
export interface CheckReporter {
  status(status: DrillStatus): void;
  progress(message: string): void;
}

/**
 * A load balancer serving traffic with everything it owns, whatever runs it: lbdrill's backends,
 * fault proxies, test hosts and the LB as a child process or a container (`startTarget`), or a
 * deployed pool with its hooks and view (`startDeployment`). Checks get its capabilities through
 * `context`, never the runtime; disposing it stops, removes and undoes all of it.
 */
export interface StartedTarget extends AsyncDisposable {
  readonly name: string;
  readonly version: string;
  /** features this target cannot offer, with the reason a check needing one reports as `unsupported`. */
  readonly unsupported: Readonly<Partial<Record<Feature, string>>>;
  /** the profile pools the target has. */
  readonly pools: readonly PoolBinding[];
  /** profile pool -> its path prefix and why the target has no pool for it. */
  readonly missingPools: ReadonlyMap<string, { pathPrefix: string; reason: string }>;
  /** what lbdrill read from the config for the contract, and from where. */
  readonly bindings: readonly Binding[];
  /** what starting a containerized LB cost, up to serving. */
  readonly startup: (StartupCost & { readyMs: number }) | undefined;
  /** why the target stopped serving (the LB died, a hook failed), once it has: later checks are not judged. */
  stopped(): string | undefined;
  /** The capabilities one check runs with; what it starts goes into `scope` and ends with it. */
  context(check: { id: string; pool: PoolBinding | undefined }, scope: CheckScope, reporter: CheckReporter): CheckContext;
}
