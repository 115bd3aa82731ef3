import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { CheckResult } from '../checks/check.ts';
import { LBDRILL_VERSION } from '../paths.ts';
import type { Profile } from '../profiles/profile.ts';
import { writeReportFiles } from '../report/write-report.ts';
import { exitCodeFor, type RunReport } from '../report/run-report.ts';
import { runChecks } from '../runner/run-checks.ts';
import { failoverSettings, type FailoverOverrides } from '../runner/failover-settings.ts';
import type { PlannedCheck, RunEvent } from '../runner/run-checks.ts';
import { startDeployment, type StartedDeployment } from './start-deployment.ts';
import { MAX_PROBE_RATE_PER_SEC, type Deployment } from './deployment.ts';
import { renderDeploymentPlan } from './deployment-plan.ts';
import { deploymentView, viewTitle } from './deployment-view.ts';
import { recoverHookJournals } from './recover-hook-journals.ts';

export interface DeploymentRunOptions {
  deployment: Deployment;
  /** budgets (and the pool to drill, when the deployment has the profile's first pool). */
  profile: Profile;
  checks: readonly PlannedCheck[];
  failover: FailoverOverrides;
  reportDir: string;
  seed: number;
  /** print the plan and the commands, run nothing. */
  dryRun?: boolean;
  onEvent: (event: RunEvent) => void;
  onMessage: (line: string) => void;
}

/** The pool the drill acts on: the profile's first pool where the deployment has it, else the first backend's. */
function drillPool(deployment: Deployment, profile: Profile): string {
  const wanted = profile.pools[0]?.name;
  return wanted !== undefined && deployment.backends.some((b) => b.pool === wanted) ? wanted : deployment.backends[0]!.pool;
}

/**
 * Runs checks (the failover drill) against a pool lbdrill did not start: first undoes what
 * a killed earlier run left (hook journals), then probes the deployment's LB, faults its
 * backends through their hooks, watches the LB's own view, and writes the same report as a
 * native run plus every hook command. Every hook that ran is undone before it returns or
 * throws; a failing hook ends the run with LBDRILL_ERR_HOOK_FAILED (exit 2) after the report.
 */
export async function runDeployment(options: DeploymentRunOptions): Promise<RunReport | undefined> {
  const { deployment, profile } = options;
  const rate = Math.min(options.failover.probeRatePerSec ?? deployment.lb.probeRatePerSec, MAX_PROBE_RATE_PER_SEC);
  if ((options.failover.probeRatePerSec ?? 0) > MAX_PROBE_RATE_PER_SEC) options.onMessage(`--probe-rate ${options.failover.probeRatePerSec} capped at ${MAX_PROBE_RATE_PER_SEC} req/s on a deployed pool`);
  const failover = { ...failoverSettings(profile, { ...options.failover, probeRatePerSec: rate }), probeSources: 1 };
  const poolName = drillPool(deployment, profile);
  const title = viewTitle(deploymentView(deployment));
  if (options.dryRun) {
    options.onMessage(renderDeploymentPlan(deployment, failover, poolName, title).trimEnd());
    return undefined;
  }
  await recoverHookJournals({ log: options.onMessage });

  const startedAt = new Date();
  const t0 = performance.now();
  const reportDir = resolve(options.reportDir);
  const artifactDir = join(reportDir, 'run', deployment.name);
  await mkdir(artifactDir, { recursive: true });
  options.onMessage(`${deployment.name}: probing ${deployment.lb.url}${deployment.lb.probePath} at ${rate} req/s (cap ${MAX_PROBE_RATE_PER_SEC} req/s); view: ${title}`);
  let results: CheckResult[];
  let ran: StartedDeployment;
  {
    // leaving this block undoes every pending hook and stops the view, before the report is written
    await using target = await startDeployment({ deployment, profile, poolName, failover, seed: options.seed, artifactDir });
    ran = target;
    results = await runChecks(target, options.checks, options.seed, options.onEvent);
  }
  const { app } = ran;
  const hookFailure = ran.hooks.failure;
  const report: RunReport = {
    tool: 'lbdrill',
    version: LBDRILL_VERSION,
    profile: profile.name,
    mode: 'quick',
    seed: options.seed,
    failover,
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - t0),
    exitCode: hookFailure ? 2 : exitCodeFor(results),
    targets: [
      {
        name: deployment.name,
        status: 'ran',
        binary: null,
        config: deployment.file,
        bundled: false,
        rendered: null,
        mapped: [],
        listeners: [{ originalPort: app.originalPort, port: app.port, tls: app.tls, serverName: app.serverName }],
        backends: deployment.backends.map((b) => ({ id: b.name, upstream: b.server, pool: b.pool, address: b.value, backup: false })),
        bindings: [],
      },
    ],
    results,
    deployment: { file: deployment.file, url: deployment.lb.url, view: title, pollMs: deployment.pollMs, probeRatePerSec: rate, probeRateCapPerSec: MAX_PROBE_RATE_PER_SEC, hooks: ran.hooks.records },
  };
  await writeReportFiles(reportDir, report);
  if (hookFailure) throw hookFailure;
  return report;
}
