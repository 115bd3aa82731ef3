import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { BackendBinding, CheckResult, PoolBinding } from '../checks/check.ts';
import { LbClient, type Endpoint } from '../client/lb-client.ts';
import { LbdrillError } from '../errors.ts';
import { LBDRILL_VERSION } from '../paths.ts';
import type { Profile } from '../profiles/profile.ts';
import { renderJunit } from '../report/junit.ts';
import { exitCodeFor, type RunReport } from '../report/run-report.ts';
import { renderSummaryMarkdown } from '../report/summary-markdown.ts';
import { CheckScope, executeCheck } from '../runner/execute-check.ts';
import { failoverSettings, type FailoverOverrides } from '../runner/failover-settings.ts';
import type { PlannedCheck, RunEvent } from '../runner/run-target.ts';
import { MODES } from '../runner/run-profile.ts';
import type { Feature } from '../targets/target-kind.ts';
import { DeployedBackend } from './deployed-backend.ts';
import { deploymentContext, type DeployedTarget } from './deployment-context.ts';
import { MAX_PROBE_RATE_PER_SEC, type Deployment } from './deployment.ts';
import { renderDeploymentPlan } from './deployment-plan.ts';
import { deploymentView } from './deployment-view.ts';
import { HookRunner } from './hook-runner.ts';
import { identifyBackend } from './identify-backend.ts';
import { recoverHookJournals } from './recover-hook-journals.ts';

/** What a deployed pool cannot offer a check, with the reason shown as its `unsupported` result. */
const DEPLOYED_UNSUPPORTED: Readonly<Partial<Record<Feature, string>>> = {
  'own-backends': "needs lbdrill's own backends (request records, health-only faults, backend ids over WebSocket); a deployed pool's backends are the operator's",
  'runtime-api': 'a deployed LB is changed through its hooks; its view is read-only here',
};

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
  const view = deploymentView(deployment);
  const viewTitle = view ? view.eventSource : 'none: DOWN and UP are judged from traffic alone (nginx OSS has no status API)';
  if (options.dryRun) {
    await view?.close();
    options.onMessage(renderDeploymentPlan(deployment, failover, poolName, viewTitle).trimEnd());
    return undefined;
  }
  await recoverHookJournals({ log: options.onMessage });

  const startedAt = new Date();
  const t0 = performance.now();
  const reportDir = resolve(options.reportDir);
  const artifactDir = join(reportDir, 'run', deployment.name);
  await mkdir(artifactDir, { recursive: true });
  const url = new URL(deployment.lb.url);
  const tls = url.protocol === 'https:';
  const port = url.port === '' ? (tls ? 443 : 80) : Number(url.port);
  const app: Endpoint = { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port, tls, serverName: url.hostname, originalPort: port };
  const caPem = deployment.lb.caPem ?? '';
  const results: CheckResult[] = [];
  options.onMessage(`${deployment.name}: probing ${deployment.lb.url}${deployment.lb.probePath} at ${rate} req/s (cap ${MAX_PROBE_RATE_PER_SEC} req/s); view: ${viewTitle}`);
  let ran: HookRunner;
  {
    await using hooks = new HookRunner({ deploymentFile: deployment.file });
    ran = hooks;
    await using client = new LbClient({ ca: caPem, insecure: deployment.lb.insecure });
    // stops polling on every way out of this block
    await using polled = view;
    if (polled) {
      try {
        await polled.start();
      } catch (err) {
        throw new LbdrillError('LBDRILL_ERR_TARGET_START', `${polled.title} did not answer: ${(err as Error).message}`, { cause: err });
      }
    }
    const bindings: BackendBinding[] = deployment.backends.map((spec) => ({
      backend: new DeployedBackend(spec, hooks),
      upstream: { pool: spec.pool, name: spec.server, address: spec.server, line: 0, backup: false, file: deployment.file },
    }));
    const pools: PoolBinding[] = [...new Set(deployment.backends.map((b) => b.pool))].map((pool) => ({
      name: pool === poolName ? (profile.pools[0]?.name ?? pool) : pool,
      configName: pool,
      probePath: deployment.lb.probePath,
      pathPrefix: '/',
      primaries: bindings.filter((b) => b.upstream.pool === pool),
      backups: [],
      health: undefined,
    }));
    // the drill's pool first: failover checks act on pools[0]
    pools.sort((a, b) => Number(b.configName === poolName) - Number(a.configName === poolName));
    const target: DeployedTarget = {
      name: deployment.name,
      version: `deployed ${deployment.lb.url}`,
      app,
      client,
      caPem,
      backends: bindings,
      pools,
      runtime: view,
      identify: identifyBackend(deployment.identify, deployment.backends),
      failover,
      settings: MODES.quick,
      seed: options.seed,
      artifactDir,
      shared: new Map(),
    };
    for (const planned of options.checks) {
      const { check, severity } = planned;
      const base = { check: check.id, title: check.title, target: deployment.name, severity };
      const missing = check.needs.map((f) => DEPLOYED_UNSUPPORTED[f]).find((reason) => reason !== undefined);
      if (missing) {
        results.push({ ...base, status: 'unsupported', durationMs: 0, expected: check.title, observed: missing, evidence: { needs: check.needs } });
        continue;
      }
      if (hooks.failure) {
        results.push({ ...base, status: 'error', durationMs: 0, expected: check.title, observed: `not run: ${hooks.failure.message}`, evidence: {} });
        continue;
      }
      options.onEvent({ type: 'check-start', target: deployment.name, check: check.id });
      const scope = new CheckScope(options.seed);
      const ctx = deploymentContext(
        target,
        { id: check.id, pool: pools[0] },
        scope,
        (status) => options.onEvent({ type: 'drill-status', target: deployment.name, check: check.id, status }),
        (message) => options.onEvent({ type: 'check-progress', target: deployment.name, check: check.id, message }),
      );
      const result = await executeCheck({ check, severity, target: deployment.name, ctx, scope, crashed: () => undefined });
      results.push(result);
      options.onEvent({ type: 'check-done', result });
    }
    // leaving this block undoes every pending hook (await using), before the report is written
  }
  const hookFailure = ran.failure;
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
        listeners: [{ originalPort: port, port, tls, serverName: url.hostname }],
        backends: deployment.backends.map((b) => ({ id: b.name, upstream: b.server, pool: b.pool, address: b.value, backup: false })),
        bindings: [],
      },
    ],
    results,
    deployment: { file: deployment.file, url: deployment.lb.url, view: viewTitle, pollMs: deployment.pollMs, probeRatePerSec: rate, probeRateCapPerSec: MAX_PROBE_RATE_PER_SEC, hooks: ran.records },
  };
  await writeFile(join(reportDir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  await writeFile(join(reportDir, 'junit.xml'), renderJunit(report));
  await writeFile(join(reportDir, 'summary.md'), renderSummaryMarkdown(report));
  if (hookFailure) throw hookFailure;
  return report;
}
