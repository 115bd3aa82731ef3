import type { CheckResult, FailoverSettings, RunMode } from '../checks/check.ts';
import type { Binding } from '../contracts/binding.ts';
import type { HookRecord } from '../deployment/hook-runner.ts';
import type { Mapping } from '../targets/config-plan.ts';

/** One target of a run, as report.json describes it (see reports/README.md). */
export interface TargetReport {
  name: string;
  status: 'ran' | 'skipped' | 'crashed';
  /** why it was skipped or how it crashed. */
  reason?: string;
  /** "nginx/1.22.1"; null when not installed. */
  binary: string | null;
  /** absolute path of the config under test (the user's file, or the bundled one). */
  config: string | null;
  bundled: boolean;
  /** rendered config, relative to the report directory. */
  rendered: string | null;
  mapped: Mapping[];
  /** originalAddress: where listeners on one port name different addresses (each gets its own port). */
  listeners: Array<{ originalPort: number; originalAddress?: string; port: number; tls: boolean; serverName: string }>;
  backends: Array<{ id: string; upstream: string; pool: string; address: string; backup: boolean }>;
  /** what lbdrill bound the profile's contract to in this config (pools, cookie, weights, health checks), and from where. */
  bindings: Binding[];
  /** --runtime container: the image and what starting the LB in it cost (image check, create + start, start to serving). */
  container?: { image: string; imageCheckMs: number; createMs: number; readyMs: number };
}

/** The whole run: report.json. */
export interface RunReport {
  tool: 'lbdrill';
  version: string;
  profile: string;
  mode: RunMode;
  seed: number;
  /** time scale, budgets and probe rate of failover checks, for profiles that have them. */
  failover?: FailoverSettings;
  startedAt: string;
  durationMs: number;
  exitCode: number;
  targets: TargetReport[];
  results: CheckResult[];
  /** a run against a deployed pool (--deployment): where it probed, its view, and every hook command that ran. */
  deployment?: DeploymentReport;
}

/** The deployed pool of a run: probe, view and the hook commands with exit status, time and duration. */
export interface DeploymentReport {
  file: string;
  url: string;
  /** the LB's view and how it times transitions (poll interval). */
  view: string;
  pollMs: number;
  probeRatePerSec: number;
  probeRateCapPerSec: number;
  hooks: HookRecord[];
}

/** 1 when a must-check failed or could not be judged (error); unsupported and skipped are not failures. */
export function exitCodeFor(results: readonly CheckResult[]): 0 | 1 {
  return results.some((r) => r.severity === 'must' && (r.status === 'fail' || r.status === 'error')) ? 1 : 0;
}
