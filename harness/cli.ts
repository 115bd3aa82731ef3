import { Command, InvalidArgumentError, Option } from 'commander';
import pc from 'picocolors';
import { VICTIM_FAULTS, type VictimFault } from './checks/check.ts';
import { CHECKS } from './checks/registry.ts';
import { exitOnCliFailure } from './cli-failure.ts';
import { LbdrillError } from './errors.ts';
import { LBDRILL_VERSION } from './paths.ts';
import { loadProfile, profileNames } from './profiles/profile.ts';
import { renderMatrix, TerminalView } from './report/terminal-view.ts';
import { MODES, runProfile } from './runner/run-profile.ts';
import { parseBudget, type FailoverOverrides } from './runner/failover-settings.ts';
import { renderFailoverSummary } from './report/failover-summary.ts';
import { loadProfileScenarios, loadScenario } from './scenarios/scenario.ts';
import { planRun } from './runner/plan-run.ts';
import { renderPlan } from './report/plan-text.ts';
import { rebuildReport } from './report/rebuild-report.ts';
import { scenarioCheck } from './scenarios/scenario-check.ts';
import type { TargetSpec } from './runner/prepare-target.ts';
import { TARGETS } from './targets/registry.ts';
import { ContainerRuntime, type ImageOverrides } from './container/container-runtime.ts';
import { BASE_IMAGE, buildLocalImages, LOCAL_IMAGES } from './container/local-images.ts';
import { TARGET_NAMES, type TargetName } from './targets/target-kind.ts';
import { loadDeployment, MAX_PROBE_RATE_PER_SEC } from './deployment/deployment.ts';
import { runDeployment } from './deployment/run-deployment.ts';
import type { Profile } from './profiles/profile.ts';
import { buildAllureSite } from './report/allure/build-allure-site.ts';
import { registerK6Command } from './k6/k6-command.ts';
import { findK6 } from './k6/k6-binary.ts';
import { diffDirs, diffRuns } from './report/diff/diff-command.ts';
import { TOLERANCES } from './report/diff/compare-measurements.ts';
import { flakeCheck, renderFlakeSummary } from './flake-check/flake-check.ts';
import { claimReportDir, timestamp } from './runner/report-dir.ts';

function parseTarget(value: string, previous: TargetSpec[] = []): TargetSpec[] {
  const eq = value.indexOf('=');
  const name = (eq === -1 ? value : value.slice(0, eq)).trim();
  const file = eq === -1 ? undefined : value.slice(eq + 1).trim();
  if (!(TARGET_NAMES as readonly string[]).includes(name)) {
    throw new InvalidArgumentError(`unknown target "${name}" (one of ${TARGET_NAMES.join(', ')}; add =FILE for your own config)`);
  }
  if (file === '') throw new InvalidArgumentError(`"${value}" names no file after "="`);
  if (previous.some((t) => t.name === name)) throw new InvalidArgumentError(`target "${name}" given twice`);
  return [...previous, { name: name as TargetName, ...(file ? { configFile: file } : {}) }];
}

function parseSeed(value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw new InvalidArgumentError(`expected a whole number, got "${value}"`);
  return Number(value);
}

function collect(value: string, previous: string[] = []): string[] {
  if (!CHECKS.has(value)) throw new InvalidArgumentError(`unknown check "${value}" (see: lbdrill profiles)`);
  return [...previous, value];
}

function parseRuns(value: string): number {
  if (!/^\d{1,4}$/.test(value) || Number(value) < 2 || Number(value) > 1000) throw new InvalidArgumentError(`expected a number of runs in 2..1000 (a flip needs two runs), got "${value}"`);
  return Number(value);
}

function parseTimeScale(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n <= 10)) throw new InvalidArgumentError(`expected a factor in (0, 10], e.g. 0.1 for ten times faster, got "${value}"`);
  return n;
}

function parseProbeRate(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 2000) throw new InvalidArgumentError(`expected requests per second in 1..2000, got "${value}"`);
  return Number(value);
}

function collectBudget(value: string, previous: Record<string, number> = {}): Record<string, number> {
  try {
    const [name, ms] = parseBudget(value);
    return { ...previous, [name]: ms };
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message.replace(/^--budget "[^"]*": /, ''));
  }
}

function collectPool(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const m = /^([\w.-]+)=([\w.:-]+)$/.exec(value);
  if (!m) throw new InvalidArgumentError(`expected PROFILE_POOL=CONFIG_POOL, e.g. api_pool=my_backend, got "${value}"`);
  return { ...previous, [m[1]!]: m[2]! };
}

function collectImage(value: string, previous: ImageOverrides = {}): ImageOverrides {
  const m = /^([a-z]+)=([\w./:@-]+)$/.exec(value);
  if (!m) throw new InvalidArgumentError(`expected TARGET=IMAGE, e.g. haproxy=haproxy:2.8, got "${value}"`);
  const name = m[1]!;
  if (!(TARGET_NAMES as readonly string[]).includes(name)) throw new InvalidArgumentError(`unknown target "${name}" in "${value}" (one of ${TARGET_NAMES.join(', ')})`);
  if (previous[name as TargetName] !== undefined) throw new InvalidArgumentError(`--image for ${name} given twice`);
  return { ...previous, [name]: m[2]! };
}

/** --runtime and --image, on every command that starts LBs. */
interface RuntimeFlags {
  runtime?: 'native' | 'container';
  image?: ImageOverrides;
}

function runtimeOptions(opts: RuntimeFlags): { runtime?: 'native' | 'container'; images?: ImageOverrides } {
  if (opts.image && opts.runtime !== 'container') throw new LbdrillError('LBDRILL_ERR_USAGE', '--image needs --runtime container');
  return { ...(opts.runtime ? { runtime: opts.runtime } : {}), ...(opts.image ? { images: opts.image } : {}) };
}

function addRuntimeOptions(command: Command): Command {
  return command
    .addOption(new Option('--runtime <where>', 'native: each LB as a child process of lbdrill (default); container: each LB in a container of its image (Podman or DOCKER_HOST, see README "Containers")').choices(['native', 'container']))
    .option('--image <target=image>', 'the image a target runs in with --runtime container, e.g. --image haproxy=haproxy:2.8 (repeatable; default lbdrill/<target>:bookworm, built locally)', collectImage);
}

/** Options shared by `run` and `drill` that shape failover timing. */
interface FailoverFlags extends RuntimeFlags {
  network?: 'loopback' | 'netns';
  timeScale?: number;
  budget?: Record<string, number>;
  pool?: Record<string, string>;
  probeRate?: number;
}

function failoverOverrides(opts: FailoverFlags): FailoverOverrides {
  return {
    ...(opts.timeScale !== undefined ? { timeScale: opts.timeScale } : {}),
    ...(opts.budget ? { budgetsMs: opts.budget } : {}),
    ...(opts.pool ? { pools: opts.pool } : {}),
    ...(opts.probeRate !== undefined ? { probeRatePerSec: opts.probeRate } : {}),
  };
}

function addFailoverOptions(command: Command): Command {
  return addRuntimeOptions(command)
    .option('--time-scale <factor>', "multiply the config's health-check intervals, slowstart and fail_timeout AND the profile's budgets by this (0.1 = ten times faster, for CI)", parseTimeScale)
    .option('--budget <name=duration>', 'override a budget, as measured (not scaled): detect, rejoin, shutdown, drain, passive, ramp; e.g. --budget detect=2s (repeatable)', collectBudget)
    .option('--pool <profile=config>', "match a profile pool to a differently named backend/upstream in your config, e.g. --pool api_pool=my_backend (repeatable)", collectPool)
    .option('--probe-rate <rps>', 'probe stream requests per second during failover checks (default from the profile, 200)', parseProbeRate)
    .addOption(
      new Option('--network <mode>', 'loopback: backends on 127.x addresses (default); netns: each backend on its own test host (network namespace + veth, root only), for link_down and partition faults').choices(['loopback', 'netns']),
    );
}

/** Default targets: the reference LB plus every proxy found on this machine (others are reported as skipped). */
function defaultTargets(): TargetSpec[] {
  return TARGET_NAMES.map((name) => ({ name }));
}

const program = new Command();
program
  .name('lbdrill')
  .description('Chaos and conformance testing for load balancers: real backends, the real LB (nginx, HAProxy, Apache or the reference LB) with your config, real faults, conformance reports.')
  .version(LBDRILL_VERSION)
  .exitOverride()
  .configureOutput({ writeErr: (text) => process.stderr.write(text) })
  .showHelpAfterError(false);

const runCommand = program
  .command('run')
  .description("Run a profile's conformance checks (and the scenarios it lists), or one scenario file, against one or more load balancers and write a report.")
  .argument('[scenario]', 'a scenario file (scenarios/*.yaml, or a .ts module exporting one): traffic, a fault timeline and assertions; its profile gives pools, configs and budgets')
  .option('-p, --profile <name|file>', `contract to check: a bundled profile (${profileNames().join(', ')}) or your own profile file (may \`extends:\` a bundled one)`)
  .option(
    '-t, --target <name[=file]>',
    `load balancer to test, repeatable: ${TARGET_NAMES.join(', ')}. NAME alone uses the profile's bundled config; NAME=FILE tests your own config file (default: all four, missing ones skipped)`,
    parseTarget,
  )
  .option('-o, --report-dir <dir>', 'where report.json, junit.xml, summary.md and the rendered configs go (default: reports/<timestamp>)')
  .addOption(new Option('--quick', 'small sizes and gaps: 256 MiB transfers, 5 s idle gap (default)').conflicts('thorough'))
  .addOption(new Option('--thorough', '2 GiB transfers, 65 s idle gap: past common proxy timeouts'))
  .option('--seed <n>', 'seed for every generated payload and random choice; same seed, same run', parseSeed, 1)
  .option('--only <check>', 'run only this check (repeatable); only the pools it needs are required of the config', collect)
  .option('--skip <check>', 'leave this check out (repeatable)', collect)
  .addOption(new Option('--load <generator>', "what sends a scenario's traffic: builtin (lbdrill's probe stream, default) or k6: the same traffic also through k6 (on PATH or K6_BIN), its summary and thresholds in the report").choices(['builtin', 'k6']));
addFailoverOptions(runCommand)
  .addHelpText(
    'after',
    `
Examples:
  lbdrill run --profile shakenfist-api
  lbdrill run --profile haproxy-role --target haproxy --time-scale 0.1
  lbdrill run scenarios/api-slow-then-unhealthy.yaml --target haproxy --target reference
  lbdrill run scenarios/api-slow-then-unhealthy.yaml --target haproxy --load k6     # the traffic through k6 too (README: k6)
  lbdrill run --profile shakenfist-api --target nginx=/etc/nginx/sites-available/shakenfist.conf --report-dir out/
  lbdrill run --profile shakenfist-api --target reference --target haproxy --only stream.idle-gap --thorough
  lbdrill run --profile ./our-gateway.yaml --target haproxy=deploy/haproxy.cfg     # your own contract (extends: sticky-ws)
  lbdrill plan --profile sticky-ws --target haproxy=deploy/haproxy.cfg             # what lbdrill reads from the config, nothing run

Exit codes: 0 every must-check passed, 1 a must-check failed, 2 lbdrill could not run
(bad flag, unreadable or rejected config, missing binary).`,
  )
  .action(async (scenarioFile: string | undefined, opts: { profile?: string; target?: TargetSpec[]; reportDir?: string; thorough?: boolean; seed: number; only?: string[]; skip?: string[]; load?: 'builtin' | 'k6' } & FailoverFlags) => {
    if (!scenarioFile && !opts.profile) throw new LbdrillError('LBDRILL_ERR_USAGE', 'give a profile (--profile NAME) or a scenario file (lbdrill run scenarios/FILE.yaml)');
    const scenario = scenarioFile ? await loadScenario(scenarioFile) : undefined;
    if (scenario && opts.profile && opts.profile !== scenario.profile) throw new LbdrillError('LBDRILL_ERR_USAGE', `${scenarioFile} runs on profile ${scenario.profile}, not ${opts.profile}: drop --profile`);
    const loaded = loadProfile(scenario?.profile ?? opts.profile!);
    const listed = scenario ? [] : await loadProfileScenarios(loaded);
    const profile = scenario ? { ...loaded, checks: [] } : loaded;
    const k6 = opts.load === 'k6' ? { bin: findK6(), profile: loaded } : undefined;
    if (k6 && !scenario && listed.length === 0) throw new LbdrillError('LBDRILL_ERR_USAGE', `--load k6 sends a scenario's traffic: give a scenario file (profile ${loaded.name} lists none)`);
    const extraChecks = (scenario ? [scenario] : listed).map((s) => scenarioCheck(s, k6 ? { k6 } : {}));
    if (scenario?.time_scale !== undefined && opts.timeScale === undefined) opts.timeScale = scenario.time_scale;
    const targets = opts.target ?? scenario?.targets?.map((name) => ({ name })) ?? defaultTargets();
    const reportDir = opts.reportDir ?? claimReportDir();
    const mode = opts.thorough ? 'thorough' : 'quick';
    const view = new TerminalView();
    view.message(`${pc.bold('lbdrill')} ${LBDRILL_VERSION}: profile ${pc.bold(profile.name)} (${mode}: ${MODES[mode].largeBytes / 1024 / 1024} MiB transfers, ${MODES[mode].idleGapMs / 1000} s gaps), report in ${reportDir}`);
    try {
      const report = await runProfile({
        profile,
        targets,
        reportDir,
        mode,
        seed: opts.seed,
        ...(opts.only ? { only: opts.only } : {}),
        ...(opts.skip ? { skip: opts.skip } : {}),
        extraChecks,
        ...(opts.network ? { network: opts.network } : {}),
        ...runtimeOptions(opts),
        failover: failoverOverrides(opts),
        onEvent: view.onEvent,
        onMessage: (l) => view.message(l),
      });
      view.close();
      process.stdout.write(`${renderMatrix(report)}\nreport: ${reportDir}/report.html, report.json, junit.xml, summary.md\n`);
      process.exitCode = report.exitCode;
    } finally {
      view.close();
    }
  });

const drill = program.command('drill').description('Game-day drills: a fault injected into a live pool, measured, with a verdict.');
addFailoverOptions(
  drill
    .command('failover')
    .description(
      "Seed 001's failover smoke test as a measured drill: steady traffic, kill the pool's first server, time until the LB stops using it, check no request fails after that, restart it, time until it serves again.",
    )
    .option('-p, --profile <name|file>', 'profile (bundled name or your own file) whose pools, bundled configs and budgets to use', 'haproxy-role')
    .option(
      '-t, --target <name[=file]>',
      `load balancer to drill, repeatable (same drill on each, numbers side by side): ${TARGET_NAMES.join(', ')}; NAME=FILE drills your own config (default: all four)`,
      parseTarget,
    )
    .option('-o, --report-dir <dir>', 'where report.json, junit.xml, summary.md and failover-timeline.{json,csv} per target go (default: reports/<timestamp>)')
    .option('--seed <n>', 'seed for every random choice', parseSeed, 1)
    .option('--deployment <file>', `drill a pool lbdrill did not start: the deployment file names the LB URL, how responses name their backend, the LB's view and each backend's stop/start hook commands (probe rate capped at ${MAX_PROBE_RATE_PER_SEC} req/s)`)
    .option('--dry-run', 'with --deployment: print the plan (victim, budgets, probe, view) and the exact hook commands, run nothing')
    .addOption(
      new Option('--fault <how>', "how the victim goes: stop ends its process (connections refused at once); partition drops every packet to and from its test host, as when a container's address vanishes (needs --network netns)")
        .choices([...VICTIM_FAULTS])
        .default('stop'),
    ),
).addHelpText(
  'after',
  `
Examples:
  lbdrill drill failover --target haproxy                       # the seed's smoke test, real 5 s intervals (about a minute)
  lbdrill drill failover --target haproxy --target nginx --target apache --target reference --time-scale 0.1
  lbdrill drill failover --target haproxy=/etc/haproxy/haproxy.cfg --pool api_pool=be_api --budget detect=12s
  lbdrill drill failover --target haproxy --network netns --fault partition   # the victim's address goes silent, as a stopped container's does
  lbdrill drill failover --deployment examples/deployed-processes/deployment.yaml --dry-run   # a deployed pool: plan and commands only
  lbdrill drill failover --deployment examples/seed-001/deployment.yaml          # seed 001's game day on docker-compose.yml (README)
  lbdrill drill failover --target haproxy --runtime container --image haproxy=haproxy:2.8       # the HAProxy version you deploy

The timeline of every probe request is written to <report-dir>/run/<target>/failover-timeline.csv
(seq, sent_ms, latency_ms, backend, status, error) for plotting.
Exit codes: 0 the drill passed on every target, 1 a budget was missed or a request failed after detection, 2 could not run.`,
).action(async (opts: { profile: string; target?: TargetSpec[]; reportDir?: string; seed: number; deployment?: string; dryRun?: boolean; fault: VictimFault } & FailoverFlags) => {
  const profile = loadProfile(opts.profile);
  if (opts.fault === 'partition' && opts.network !== 'netns') throw new LbdrillError('LBDRILL_ERR_USAGE', '--fault partition drops the packets of a test host: add --network netns (root)');
  if (opts.dryRun && !opts.deployment) throw new LbdrillError('LBDRILL_ERR_USAGE', '--dry-run plans a drill on a deployed pool: give --deployment FILE');
  if (opts.deployment) {
    if (opts.target || opts.network || opts.timeScale !== undefined || opts.fault !== 'stop') throw new LbdrillError('LBDRILL_ERR_USAGE', "--deployment drills the pool the file describes with its stop/start hooks: drop --target, --network, --time-scale and --fault");
    await drillDeployment({ ...opts, deployment: opts.deployment }, profile);
    return;
  }
  if (profile.pools.length === 0) throw new LbdrillError('LBDRILL_ERR_USAGE', `profile ${profile.name} declares no pools to drill (try --profile haproxy-role)`);
  const targets = opts.target ?? defaultTargets();
  const reportDir = opts.reportDir ?? claimReportDir();
  const view = new TerminalView();
  const overrides = failoverOverrides(opts);
  view.message(`${pc.bold('lbdrill drill failover')}: profile ${pc.bold(profile.name)}, pool ${profile.pools[0]!.name}, time scale ${overrides.timeScale ?? profile.failover.time_scale}, report in ${reportDir}`);
  try {
    const report = await runProfile({
      profile: {
        ...profile,
        // with a sticky-cookie contract the drill also cuts WebSocket clients and watches them come back
        checks: ['failover.detect-within-budget', 'failover.no-errors-after-detect', 'failover.rejoin-within-budget', ...(profile.sticky ? ['sticky.ws-reconnect-after-failover'] : [])].map((id) => ({ id, severity: 'must' as const })),
      },
      targets,
      reportDir,
      mode: 'quick',
      seed: opts.seed,
      ...(opts.network ? { network: opts.network } : {}),
      ...runtimeOptions(opts),
      failover: { ...overrides, victimFault: opts.fault },
      onEvent: view.onEvent,
      onMessage: (l) => view.message(l),
    });
    view.close();
    const verdict = report.exitCode === 0 ? pc.green('PASS: the drill met every budget on every target') : pc.red('FAIL: a budget was missed or a request failed after detection');
    process.stdout.write(`${renderFailoverSummary(report)}\n${verdict} (exit ${report.exitCode})\ntimelines: ${reportDir}/run/<target>/failover-timeline.{json,csv}; report: ${reportDir}/report.html, report.json\n`);
    process.exitCode = report.exitCode;
  } finally {
    view.close();
  }
});

/** `drill failover --deployment FILE`: the same drill and report on a pool lbdrill did not start. */
async function drillDeployment(opts: { deployment: string; reportDir?: string; seed: number; dryRun?: boolean } & FailoverFlags, profile: Profile): Promise<void> {
  const deployment = loadDeployment(opts.deployment);
  const reportDir = opts.reportDir ?? (opts.dryRun ? `reports/${timestamp(new Date())}` : claimReportDir());
  const view = new TerminalView();
  try {
    if (!opts.dryRun) view.message(`${pc.bold('lbdrill drill failover')}: deployment ${pc.bold(deployment.name)}, budgets of profile ${pc.bold(profile.name)}, report in ${reportDir}`);
    const report = await runDeployment({
      deployment,
      profile,
      checks: ['failover.detect-within-budget', 'failover.no-errors-after-detect', 'failover.rejoin-within-budget', ...(profile.sticky ? ['sticky.ws-reconnect-after-failover'] : [])].map((id) => ({ check: CHECKS.get(id)!, severity: 'must' as const })),
      failover: failoverOverrides(opts),
      reportDir,
      seed: opts.seed,
      ...(opts.dryRun ? { dryRun: true } : {}),
      onEvent: view.onEvent,
      onMessage: (l) => (opts.dryRun ? process.stdout.write(`${l}\n`) : view.message(l)),
    });
    view.close();
    if (!report) return;
    const hooks = (report.deployment?.hooks ?? []).map((h) => `  ${h.startedAt} ${h.hook.padEnd(7)} ${h.backend}: ${h.command} -> ${h.exitCode === 0 ? pc.green('exit 0') : pc.red(String(h.exitCode ?? h.signal))} (${h.durationMs} ms)`);
    const verdict = report.exitCode === 0 ? pc.green('PASS: the drill met every budget on the deployed pool') : pc.red('FAIL: a budget was missed or a request failed after detection');
    process.stdout.write(`${renderFailoverSummary(report)}\nhooks run:\n${hooks.join('\n')}\n${verdict} (exit ${report.exitCode})\ntimelines: ${reportDir}/run/${deployment.name}/failover-timeline.{json,csv}; report: ${reportDir}/report.json\n`);
    process.exitCode = report.exitCode;
  } finally {
    view.close();
  }
}

program
  .command('plan')
  .description("Show what lbdrill reads from each config for the profile's contract (pools, health checks, sticky cookie, weights, each with its file:line) and which checks would run, without running them.")
  .option('-p, --profile <name|file>', 'bundled profile or your own profile file')
  .option('-t, --target <name[=file]>', `load balancer and config, repeatable: ${TARGET_NAMES.join(', ')} (NAME=FILE for your own config; default: all four)`, parseTarget)
  .option('--only <check>', 'plan only this check (repeatable)', collect)
  .option('--skip <check>', 'leave this check out (repeatable)', collect)
  .option('--pool <profile=config>', 'match a profile pool to a differently named pool in your config (repeatable)', collectPool)
  .addHelpText('after', `
Example:
  lbdrill plan --profile sticky-ws --target haproxy=/etc/haproxy/haproxy.cfg
Pools the config names differently are found by traffic when the run starts (the pool whose server
answers the profile's probe path); plan says so. Exit codes: 0 planned, 2 bad flag, profile or config.`)
  .action(async (opts: { profile?: string; target?: TargetSpec[]; only?: string[]; skip?: string[]; pool?: Record<string, string> }) => {
    if (!opts.profile) throw new LbdrillError('LBDRILL_ERR_USAGE', 'give a profile: --profile NAME or --profile FILE');
    const profile = loadProfile(opts.profile);
    const plans = await planRun({ profile, targets: opts.target ?? defaultTargets(), ...(opts.only ? { only: opts.only } : {}), ...(opts.skip ? { skip: opts.skip } : {}), ...(opts.pool ? { pools: opts.pool } : {}) });
    process.stdout.write(renderPlan(profile.name, plans));
  });

const diffCommand = program
  .command('diff')
  .description('What a config change changed: compare two runs of one profile cell by cell (regressions, fixes, newly unsupported, added/removed cells) and measurement by measurement, as Markdown for a pull-request comment.')
  .argument('[base]', 'report dir of the run before the change (its report.json)')
  .argument('[new]', 'report dir of the run after the change')
  .option('--out <dir>', 'also write diff.md, diff.json and diff.html (self-contained) here (one-command mode: default the --report-dir)')
  .option('-p, --profile <name|file>', 'one-command mode: run this profile on the --base configs, then on the --target configs, and diff the two runs')
  .option('--base <name[=file]>', 'one-command mode: a target and its config before the change (repeatable; NAME alone: the bundled config)', parseTarget)
  .option('-t, --target <name[=file]>', 'one-command mode: the same target with its config after the change (repeatable)', parseTarget)
  .option('-o, --report-dir <dir>', 'one-command mode: keeps both runs, as base/ and new/ (default: reports/<timestamp>)')
  .addOption(new Option('--thorough', 'one-command mode: 2 GiB transfers, 65 s idle gap'))
  .option('--seed <n>', 'one-command mode: seed of both runs (default 1)', parseSeed)
  .option('--only <check>', 'one-command mode: run only this check (repeatable)', collect)
  .option('--skip <check>', 'one-command mode: leave this check out (repeatable)', collect);
addFailoverOptions(diffCommand)
  .addHelpText(
    'after',
    `
Examples:
  lbdrill diff reports/main reports/pr                    # two report dirs of one profile
  lbdrill diff reports/main reports/pr --out diff/        # also diff.md, diff.json, diff.html
  lbdrill diff --profile shakenfist-api --base nginx=main/nginx.conf --target nginx=pr/nginx.conf --time-scale 0.1
  lbdrill diff --profile haproxy-role --base haproxy=old.cfg --target haproxy=new.cfg --only failover.detect-within-budget

A cell is check x target: a regression is pass -> fail or error, a fix fail or error -> pass.
A measurement counts as changed only beyond its tolerance (reruns of one config stay within):
${TOLERANCES.map((t) => `  ${t.what}: ${t.tolerance}`).join('\n')}
Exit codes: 0 no must-check regressed, 1 a must-check regressed (pass -> fail or error),
2 bad input (missing report dir or report.json, runs of different profiles, a config the proxy rejects).`,
  )
  .action(async (baseDir: string | undefined, newDir: string | undefined, opts: { out?: string; profile?: string; base?: TargetSpec[]; target?: TargetSpec[]; reportDir?: string; thorough?: boolean; seed?: number; only?: string[]; skip?: string[] } & FailoverFlags) => {
    if (baseDir !== undefined) {
      if (newDir === undefined) throw new LbdrillError('LBDRILL_ERR_USAGE', 'give two report dirs (lbdrill diff BASE NEW), or --profile with --base and --target');
      const runFlags = Object.keys(opts).filter((k) => k !== 'out');
      if (runFlags.length > 0) throw new LbdrillError('LBDRILL_ERR_USAGE', `BASE NEW compares two report dirs; --${runFlags[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is for running them (--profile, --base, --target): give one or the other`);
      process.exitCode = await diffDirs({ baseDir, newDir, ...(opts.out ? { out: opts.out } : {}) });
      return;
    }
    if (!opts.profile || !opts.base || !opts.target) throw new LbdrillError('LBDRILL_ERR_USAGE', 'give two report dirs (lbdrill diff BASE NEW), or --profile P --base NAME=OLD --target NAME=NEW');
    process.exitCode = await diffRuns({
      profile: opts.profile,
      base: opts.base,
      target: opts.target,
      reportDir: opts.reportDir ?? claimReportDir(),
      ...(opts.out ? { out: opts.out } : {}),
      run: {
        mode: opts.thorough ? 'thorough' : 'quick',
        seed: opts.seed ?? 1,
        ...(opts.only ? { only: opts.only } : {}),
        ...(opts.skip ? { skip: opts.skip } : {}),
        ...(opts.network ? { network: opts.network } : {}),
        ...runtimeOptions(opts),
        failover: failoverOverrides(opts),
      },
    });
  });

const flakeCommand = program
  .command('flake-check')
  .description("Run a profile N times, each run exactly as `lbdrill run` would, and report every cell (check x target) whose verdict changed between runs, with the evidence of each verdict: a gate that flakes gets switched off.")
  .option('-p, --profile <name|file>', 'bundled profile or your own profile file')
  .option('-n, --runs <n>', 'how many runs (2..1000); outside CI the bar is 20 with 0 flips', parseRuns)
  .option('-t, --target <name[=file]>', `load balancer to test, repeatable: ${TARGET_NAMES.join(', ')} (NAME=FILE for your own config; default: all four, missing ones skipped)`, parseTarget)
  .option('-o, --report-dir <dir>', 'holds run-01/ ... run-N/ (each a report dir of `lbdrill run`), flake-check.md and flake-check.json (default: reports/flake-<timestamp>)')
  .addOption(new Option('--quick', 'small sizes and gaps: 256 MiB transfers, 5 s idle gap (default)').conflicts('thorough'))
  .addOption(new Option('--thorough', '2 GiB transfers, 65 s idle gap'))
  .option('--seed <n>', 'seed of every run (the same in each: a verdict must not depend on luck)', parseSeed, 1)
  .option('--only <check>', 'run only this check (repeatable)', collect)
  .option('--skip <check>', 'leave this check out (repeatable)', collect);
addFailoverOptions(flakeCommand)
  .addHelpText(
    'after',
    `
Examples:
  lbdrill flake-check --profile shakenfist-api --runs 20 --time-scale 0.1
  lbdrill flake-check --profile haproxy-role --runs 3 --target haproxy --target nginx --time-scale 0.1
  lbdrill flake-check --profile sticky-ws --runs 5 --target apache --only sticky.cookie-honoured

After each run one line: "run 3/20: 24 cells, 0 flips so far". At the end, a table of every cell with
its tally (e.g. "19 pass / 1 fail"), and for each flipped cell the expected and observed of the first
run of each verdict (a run that passed beside one that failed); flake-check.md and flake-check.json
hold the same with the evidence.
Exit codes: 0 no cell flipped (a check failing in every run is stable: lbdrill run reports it),
1 a cell's verdict changed between runs, 2 bad input (bad flag, profile, config, missing binary).`,
  )
  .action(async (opts: { profile?: string; runs?: number; target?: TargetSpec[]; reportDir?: string; thorough?: boolean; seed: number; only?: string[]; skip?: string[] } & FailoverFlags) => {
    if (!opts.profile) throw new LbdrillError('LBDRILL_ERR_USAGE', '--profile: give the profile to rerun (--profile NAME or --profile FILE)');
    if (opts.runs === undefined) throw new LbdrillError('LBDRILL_ERR_USAGE', '--runs: give how many runs to compare, e.g. --runs 20');
    const profile = loadProfile(opts.profile);
    const reportDir = opts.reportDir ?? claimReportDir('flake-');
    const targets = opts.target ?? defaultTargets();
    const mode = opts.thorough ? 'thorough' : 'quick';
    process.stderr.write(`${pc.bold('lbdrill flake-check')}: profile ${pc.bold(profile.name)}, ${opts.runs} runs on ${targets.map((t) => t.name).join(', ')}, report in ${reportDir}\n`);
    const report = await flakeCheck({
      profile,
      runs: opts.runs,
      targets,
      reportDir,
      run: {
        mode,
        seed: opts.seed,
        ...(opts.only ? { only: opts.only } : {}),
        ...(opts.skip ? { skip: opts.skip } : {}),
        ...(opts.network ? { network: opts.network } : {}),
        ...runtimeOptions(opts),
        failover: failoverOverrides(opts),
      },
      settings: {
        targets: targets.map((t) => (t.configFile ? `${t.name}=${t.configFile}` : t.name)),
        mode,
        seed: opts.seed,
        ...(opts.timeScale !== undefined ? { 'time scale': opts.timeScale } : {}),
        ...(opts.only ? { only: opts.only } : {}),
        ...(opts.skip ? { skip: opts.skip } : {}),
        ...(opts.network ? { network: opts.network } : {}),
        ...(opts.runtime ? { runtime: opts.runtime } : {}),
      },
      onMessage: (l) => process.stderr.write(`${l}\n`),
    });
    process.stdout.write(renderFlakeSummary(report, reportDir));
    process.exitCode = report.exitCode;
  });

program
  .command('report')
  .description('Write report.html, summary.md, junit.xml and allure-results/ of a report directory again from its report.json (after upgrading lbdrill, or for a report directory downloaded from CI); with --allure, also build the Allure site.')
  .argument('<dir>', 'a report directory a run wrote (holds report.json and run/<target>/)')
  .option('--allure', 'also build the Allure site from DIR/allure-results into DIR/allure-report with allure-commandline (needs Java 8 or later: apt-get install default-jre-headless)')
  .option('--history-from <dir>', "with --allure: an earlier run's report dir whose Allure site (built first) carries its history into this one, for trends and new-failure marks")
  .addHelpText('after', `
Examples:
  lbdrill report reports/2026-12-07T15-04-00Z && xdg-open reports/2026-12-07T15-04-00Z/report.html
  lbdrill run --profile shakenfist-api --report-dir out/today
  lbdrill report out/today --allure                                # Allure site in out/today/allure-report
  lbdrill report out/today --allure --history-from out/yesterday   # with yesterday's results as history and trend
  npx allure open out/today/allure-report                          # serve it (its pages load their data over HTTP)
report.html is one self-contained file (charts inlined, no network); its links to logs and rendered
configs are relative, so keep it in its directory. Exit codes: 0 written, 2 DIR or its report.json is
missing or not an lbdrill report, no Java for --allure, or allure failed.`)
  .action(async (dir: string, opts: { allure?: boolean; historyFrom?: string }) => {
    if (opts.historyFrom && !opts.allure) throw new LbdrillError('LBDRILL_ERR_USAGE', '--history-from goes with --allure');
    const report = await rebuildReport(dir);
    process.stdout.write(`report: ${dir}/report.html, summary.md, junit.xml, allure-results/\n`);
    if (!opts.allure) return;
    const site = await buildAllureSite(dir, report, opts.historyFrom ? { historyFrom: opts.historyFrom } : {});
    process.stdout.write(`Allure site: ${site}/index.html\nserve it with: npx allure open ${site}\n`);
  });

program
  .command('profiles')
  .description('List the profiles and the checks each one runs.')
  .action(() => {
    process.stdout.write(`Bundled profiles (your own: --profile FILE, see scenarios/profiles/README.md):\n`);
    for (const name of profileNames()) {
      const profile = loadProfile(name);
      process.stdout.write(`${pc.bold(profile.name)}: ${profile.title}\n`);
      for (const c of profile.checks) process.stdout.write(`  ${c.severity.padEnd(6)} ${c.id.padEnd(28)} ${CHECKS.get(c.id)?.title ?? ''}\n`);
    }
  });

addRuntimeOptions(
  program
    .command('targets')
    .description('Show which load balancers are installed here, or with --runtime container which version each image holds.'),
).action(async (opts: RuntimeFlags) => {
  const runtime = runtimeOptions(opts);
  await using containers = runtime.runtime === 'container' ? await ContainerRuntime.start({ ...(runtime.images ? { images: runtime.images } : {}), onMessage: (l) => process.stderr.write(`${l}\n`) }) : undefined;
  for (const name of TARGET_NAMES) {
    const kind = containers ? containers.target(TARGETS[name]) : TARGETS[name];
    const version = await kind.version();
    const where = containers ? ` in ${containers.image(name)}` : '';
    process.stdout.write(`${name.padEnd(10)} ${version ? `${version}${where}` : pc.yellow(containers ? `not in ${containers.image(name)}` : `not installed (apt-get install ${kind.aptPackage})`)}\n`);
  }
});

program
  .command('images')
  .description('Local container images for --runtime container (no registry needed).')
  .command('build')
  .description(`Build what is missing of ${BASE_IMAGE} (debootstrap, Debian 12) and ${Object.values(LOCAL_IMAGES).map((i) => i.name).join(', ')} with podman.`)
  .option('--force', 'rebuild every image, the base included')
  .action(async (opts: { force?: boolean }) => {
    const t0 = performance.now();
    await buildLocalImages({ ...(opts.force ? { force: true } : {}), onProgress: (line) => process.stdout.write(`${line}\n`) });
    process.stdout.write(`images ready in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  });

program
  .command('lb')
  .description('Run the reference load balancer standalone with its own config file (see reference-lb/README.md).')
  .requiredOption('-c, --config <file>', 'reference LB config (YAML or JSON)')
  .action(async (opts: { config: string }) => {
    const { runCli } = await import('../reference-lb/src/index.ts');
    process.exitCode = await runCli(['--config', opts.config]);
  });

registerK6Command(program);

try {
  await program.parseAsync(process.argv);
  // Everything lbdrill started is stopped by now; do not let a stray stream of an
  // aborted transfer keep the process alive. Exit once stdout has drained.
  if (process.argv[2] === 'run' || process.argv[2] === 'drill' || process.argv[2] === 'targets' || process.argv[2] === 'diff' || process.argv[2] === 'flake-check') process.stdout.write('', () => process.exit());
} catch (err) {
  exitOnCliFailure(err, 'lbdrill');
}
export { LbdrillError };
