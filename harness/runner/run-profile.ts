import { chmod, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import type { Check, CheckResult, ModeSettings, RunMode } from '../checks/check.ts';
import { LbdrillError } from '../errors.ts';
import { trackTempDir } from '../process/cleanup.ts';
import { LBDRILL_VERSION } from '../paths.ts';
import type { Profile } from '../profiles/profile.ts';
import { writeReportFiles } from '../report/write-report.ts';
import { exitCodeFor, type RunReport, type TargetReport } from '../report/run-report.ts';
import { TARGETS } from '../targets/registry.ts';
import type { TargetKind, TargetName } from '../targets/target-kind.ts';
import { ContainerRuntime, type ImageOverrides } from '../container/container-runtime.ts';
import { CertificateAuthority } from '../tls/certificate-authority.ts';
import { prepareTarget, type PreparedTarget, type TargetSpec } from './prepare-target.ts';
import { TestHosts } from '../netns/test-hosts.ts';
import type { PlannedCheck, RunEvent } from './run-checks.ts';
import { runTarget } from './run-target.ts';
import { failoverSettings, targetFailoverSettings, type FailoverOverrides } from './failover-settings.ts';
import { matchPools, type PoolMatch } from '../contracts/pools.ts';
import { nodeMapFor } from '../contracts/node-map.ts';
import { queueFor } from '../contracts/queue.ts';
import { planChecks } from './plan-checks.ts';
import { sweepLeftovers } from './sweep-leftovers.ts';

const MiB = 1024 * 1024;

/** Sizes and gaps per mode (issue contract: >= 256 MiB / 5 s quick, >= 2 GiB / 65 s thorough). */
export const MODES: Record<RunMode, ModeSettings> = {
  quick: { mode: 'quick', largeBytes: 256 * MiB, idleGapMs: 5_000 },
  thorough: { mode: 'thorough', largeBytes: 2048 * MiB, idleGapMs: 65_000 },
};

export interface RunOptions {
  profile: Profile;
  targets: TargetSpec[];
  reportDir: string;
  mode: RunMode;
  seed: number;
  /** restrict to these check ids (default: the whole profile). */
  only?: string[];
  /** leave these check ids out. */
  skip?: string[];
  /** checks not in the registry (scenarios), run after the profile's. */
  extraChecks?: Check[];
  /** --time-scale, --budget, --probe-rate, --pool. */
  failover?: FailoverOverrides;
  /** put lbdrill's TCP fault proxy between the LB and each backend (scenarios with network faults). */
  faultProxies?: boolean;
  /** `netns`: each backend on its own test host (network namespace + veth); needed by link faults. */
  network?: 'loopback' | 'netns';
  /** `container`: each LB in a container of its image (harness/container/); native processes by default. */
  runtime?: 'native' | 'container';
  /** --image NAME=IMAGE: the image a target runs in under `runtime: 'container'`. */
  images?: ImageOverrides;
  onEvent: (event: RunEvent) => void;
  onMessage: (line: string) => void;
}

/**
 * Runs a profile on every requested target: validates every config first (so a
 * rejected config ends the run before anything starts), then runs the targets one
 * after the other, and writes report.json, junit.xml and summary.md.
 */
export async function runProfile(options: RunOptions): Promise<RunReport> {
  const startedAt = new Date();
  const t0 = performance.now();
  const reportDir = resolve(options.reportDir);
  await mkdir(reportDir, { recursive: true });
  // Proxy workers drop to an unprivileged user and write temp files under run/<target>:
  // the report dir must be traversable by them (mkdtemp makes 0700 dirs).
  const mode = (await stat(reportDir)).mode & 0o777;
  if ((mode & 0o011) !== 0o011) await chmod(reportDir, mode | 0o011);
  const planned: PlannedCheck[] = planChecks(options.profile, { ...(options.only ? { only: options.only } : {}), ...(options.skip ? { skip: options.skip } : {}) }).concat(
    (options.extraChecks ?? []).map((check) => ({ check, severity: check.severity })),
  );
  if (planned.length === 0) throw new LbdrillError('LBDRILL_ERR_USAGE', `--only/--skip leave no check of profile ${options.profile.name} to run`);

  await using containers = options.runtime === 'container' ? await ContainerRuntime.start({ ...(options.images ? { images: options.images } : {}), onMessage: options.onMessage }) : undefined;
  const kindOf = (name: TargetName): TargetKind => (containers ? containers.target(TARGETS[name]) : TARGETS[name]);

  // Which targets can run here at all.
  const targetReports: TargetReport[] = [];
  const runnable: Array<{ spec: TargetSpec; version: string; index: number }> = [];
  for (const [index, spec] of options.targets.entries()) {
    const kind = kindOf(spec.name);
    const version = await kind.version();
    if (!spec.configFile && options.profile.configDir === undefined) {
      throw new LbdrillError('LBDRILL_ERR_USAGE', `profile ${options.profile.name} has no bundled configs: give your own with --target ${spec.name}=FILE`);
    }
    const configFile = spec.configFile ? resolve(spec.configFile) : join(options.profile.configDir!, kind.bundledConfigName);
    const base: TargetReport = {
      name: spec.name,
      status: 'ran',
      binary: version ?? null,
      config: configFile,
      bundled: spec.configFile === undefined,
      rendered: null,
      mapped: [],
      listeners: [],
      backends: [],
      bindings: [],
    };
    if (!version) {
      const reason = containers ? `${spec.name} is not in image ${containers.image(spec.name)}` : `${spec.name} is not installed (apt-get install ${kind.aptPackage})`;
      if (spec.configFile) throw new LbdrillError('LBDRILL_ERR_BINARY_MISSING', `cannot test ${spec.configFile}: ${reason}`);
      targetReports.push({ ...base, status: 'skipped', reason });
      continue;
    }
    targetReports.push(base);
    runnable.push({ spec, version, index });
  }
  if (runnable.length === 0) {
    throw new LbdrillError('LBDRILL_ERR_BINARY_MISSING', targetReports.map((t) => t.reason).join('; '));
  }

  const ca = await CertificateAuthority.create();
  await writeFile(join(reportDir, 'ca.pem'), ca.certPem);
  const failover = failoverSettings(options.profile, options.failover ?? {});
  const network = options.network ?? 'loopback';
  await sweepLeftovers(network, options.onMessage);
  const linkFaults = planned.filter((p) => p.check.linkFaults).map((p) => p.check.id);
  if (linkFaults.length > 0 && network !== 'netns') throw new LbdrillError('LBDRILL_ERR_USAGE', `${linkFaults.join(', ')} injects link faults (link_down, partition): run with --network netns`);
  if (network === 'netns') {
    const availability = await TestHosts.available();
    if (!availability.ok) throw new LbdrillError('LBDRILL_ERR_USAGE', `--network netns: ${availability.reason}`);
  }
  const prepared: Array<PreparedTarget & { matches: PoolMatch[] }> = [];
  for (const { spec, version, index } of runnable) {
    const kind = kindOf(spec.name);
    const report = targetReports.find((t) => t.name === spec.name)!;
    options.onMessage(`${spec.name}: checking ${report.config} with ${version}`);
    let target: PreparedTarget;
    try {
      target = await prepareTarget({ kind, version, spec, configFile: report.config!, runDir: join(reportDir, 'run', spec.name), index, ca, timeScale: failover.timeScale, network });
    } catch (err) {
      await Promise.allSettled(prepared.map((p) => p.testHosts?.dispose()));
      throw err;
    }
    prepared.push({ ...target, matches: [] });
    try {
      prepared[prepared.length - 1]!.matches = matchPools(options.profile.pools, target.target.analysis, report.config!, options.failover?.pools ?? {}, options.profile.name);
      for (const p of planned) p.check.validateTopology?.(target.backends.map((b) => b.id), `${spec.name}'s config ${report.config}`);
    } catch (err) {
      await Promise.allSettled(prepared.map((p) => p.testHosts?.dispose()));
      throw err;
    }
    report.rendered = relative(reportDir, target.target.mainFile);
    report.mapped = target.mapped;
    report.listeners = target.endpoints.map((e) => ({ originalPort: e.originalPort, ...(e.originalAddress ? { originalAddress: e.originalAddress } : {}), port: e.port, tls: e.tls, serverName: e.serverName }));
    report.backends = target.backends.map((b) => ({ id: b.id, upstream: b.upstream.address, pool: b.upstream.pool, address: `${b.host}:${b.port}`, backup: b.upstream.backup }));
  }

  const results: CheckResult[] = [];
  for (const report of targetReports.filter((t) => t.status === 'skipped')) {
    for (const p of planned) {
      results.push({ check: p.check.id, title: p.check.title, target: report.name, status: 'skipped', severity: p.severity, durationMs: 0, expected: p.check.title, observed: report.reason ?? 'skipped', evidence: {} });
    }
  }
  try {
  for (const target of prepared) {
    // Temp dirs of the proxies are scratch space; the rendered config and logs stay.
    const scratch = join(target.target.runDir, 'tmp');
    const untrack = trackTempDir(scratch);
    try {
      const run = await runTarget({
        prepared: target,
        checks: planned,
        settings: MODES[options.mode],
        seed: options.seed,
        caPem: ca.certPem,
        failover: targetFailoverSettings(failover, target.mapped),
        profile: options.profile,
        matches: target.matches,
        healthPaths: options.profile.pools.flatMap((p) => (p.health_path ? [p.health_path] : [])),
        ...(options.profile.node_map ? { nodeMap: nodeMapFor(options.profile.node_map, target.spec.name) } : {}),
        ...(options.profile.queue ? { queue: queueFor(options.profile.queue) } : {}),
        ...(options.profile.auth ? { auth: { users: options.profile.auth.users } } : {}),
        faultProxies: options.faultProxies ?? planned.some((p) => p.check.networkFaults),
        onEvent: options.onEvent,
      });
      results.push(...run.results);
      const targetReport = targetReports.find((t) => t.name === target.spec.name)!;
      targetReport.bindings = run.bindings;
      if (run.startup) targetReport.container = run.startup;
      if (run.crashed) {
        const report = targetReport;
        report.status = 'crashed';
        report.reason = run.crashed;
      }
    } finally {
      await rm(scratch, { recursive: true, force: true });
      untrack();
    }
  }

  } finally {
    // Every target disposes its own test hosts; this catches the ones a failed run never reached.
    await Promise.allSettled(prepared.map((p) => p.testHosts?.dispose()));
  }

  // A run where no check could act on the config (every pool it needs is missing) is a usage problem, not a verdict.
  const ran = results.filter((r) => r.status !== 'skipped');
  if (ran.length > 0 && ran.every((r) => r.status === 'fail' && r.evidence['missingPool'] !== undefined)) {
    throw new LbdrillError('LBDRILL_ERR_USAGE', `nothing could run: ${[...new Set(ran.map((r) => `${r.target}: ${r.observed}`))].join('; ')}`);
  }
  const order = new Map(options.targets.map((t, i) => [t.name as string, i]));
  results.sort((a, b) => (order.get(a.target) ?? 0) - (order.get(b.target) ?? 0));
  const report: RunReport = {
    tool: 'lbdrill',
    version: LBDRILL_VERSION,
    profile: options.profile.name,
    mode: options.mode,
    seed: options.seed,
    ...(options.profile.pools.length > 0 ? { failover } : {}),
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - t0),
    exitCode: exitCodeFor(results),
    targets: targetReports,
    results,
  };
  await writeReportFiles(reportDir, report);
  return report;
}
