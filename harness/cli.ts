import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import pc from 'picocolors';
import { CHECKS } from './checks/registry.ts';
import { EXIT_CANNOT_RUN, isLbdrillError, LbdrillError } from './errors.ts';
import { LBDRILL_VERSION } from './paths.ts';
import { killEverythingNow } from './process/cleanup.ts';
import { loadProfile, profileNames } from './profiles/profile.ts';
import { renderMatrix, TerminalView } from './report/terminal-view.ts';
import { MODES, runProfile } from './runner/run-profile.ts';
import type { TargetSpec } from './runner/prepare-target.ts';
import { TARGETS } from './targets/registry.ts';
import { TARGET_NAMES, type TargetName } from './targets/target-kind.ts';

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

function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
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

program
  .command('run')
  .description('Run a profile\'s conformance checks against one or more load balancers and write a report.')
  .requiredOption('-p, --profile <name>', `contract to check (${profileNames().join(', ')})`)
  .option(
    '-t, --target <name[=file]>',
    `load balancer to test, repeatable: ${TARGET_NAMES.join(', ')}. NAME alone uses the profile's bundled config; NAME=FILE tests your own config file (default: all four, missing ones skipped)`,
    parseTarget,
  )
  .option('-o, --report-dir <dir>', 'where report.json, junit.xml, summary.md and the rendered configs go (default: reports/<timestamp>)')
  .addOption(new Option('--quick', 'small sizes and gaps: 256 MiB transfers, 5 s idle gap (default)').conflicts('thorough'))
  .addOption(new Option('--thorough', '2 GiB transfers, 65 s idle gap: past common proxy timeouts'))
  .option('--seed <n>', 'seed for every generated payload and random choice; same seed, same run', parseSeed, 1)
  .option('--only <check>', 'run only this check (repeatable)', collect)
  .addHelpText(
    'after',
    `
Examples:
  lbdrill run --profile shakenfist-api
  lbdrill run --profile shakenfist-api --target nginx=/etc/nginx/sites-available/shakenfist.conf --report-dir out/
  lbdrill run --profile shakenfist-api --target reference --target haproxy --only stream.idle-gap --thorough

Exit codes: 0 every must-check passed, 1 a must-check failed, 2 lbdrill could not run
(bad flag, unreadable or rejected config, missing binary).`,
  )
  .action(async (opts: { profile: string; target?: TargetSpec[]; reportDir?: string; thorough?: boolean; seed: number; only?: string[] }) => {
    const profile = loadProfile(opts.profile);
    const targets = opts.target ?? defaultTargets();
    const reportDir = opts.reportDir ?? `reports/${timestamp(new Date())}`;
    const mode = opts.thorough ? 'thorough' : 'quick';
    const view = new TerminalView();
    view.message(`${pc.bold('lbdrill')} ${LBDRILL_VERSION}: profile ${pc.bold(profile.name)} (${mode}: ${MODES[mode].largeBytes / 1024 / 1024} MiB transfers, ${MODES[mode].idleGapMs / 1000} s gaps), report in ${reportDir}`);
    try {
      const report = await runProfile({ profile, targets, reportDir, mode, seed: opts.seed, ...(opts.only ? { only: opts.only } : {}), onEvent: view.onEvent, onMessage: (l) => view.message(l) });
      view.close();
      process.stdout.write(`${renderMatrix(report)}\nreport: ${reportDir}/report.json, junit.xml, summary.md\n`);
      process.exitCode = report.exitCode;
    } finally {
      view.close();
    }
  });

program
  .command('profiles')
  .description('List the profiles and the checks each one runs.')
  .action(() => {
    for (const name of profileNames()) {
      const profile = loadProfile(name);
      process.stdout.write(`${pc.bold(profile.name)}: ${profile.title}\n`);
      for (const c of profile.checks) process.stdout.write(`  ${c.severity.padEnd(6)} ${c.id.padEnd(28)} ${CHECKS.get(c.id)?.title ?? ''}\n`);
    }
  });

program
  .command('targets')
  .description('Show which load balancers are installed here.')
  .action(async () => {
    for (const name of TARGET_NAMES) {
      const kind = TARGETS[name];
      const version = await kind.version();
      process.stdout.write(`${name.padEnd(10)} ${version ?? pc.yellow(`not installed (apt-get install ${kind.aptPackage})`)}\n`);
    }
  });

program
  .command('lb')
  .description('Run the reference load balancer standalone with its own config file (see reference-lb/README.md).')
  .requiredOption('-c, --config <file>', 'reference LB config (YAML or JSON)')
  .action(async (opts: { config: string }) => {
    const { runCli } = await import('../reference-lb/src/index.ts');
    process.exitCode = await runCli(['--config', opts.config]);
  });

try {
  await program.parseAsync(process.argv);
  // Everything lbdrill started is stopped by now; do not let a stray stream of an
  // aborted transfer keep the process alive. Exit once stdout has drained.
  if (process.argv[2] === 'run') process.stdout.write('', () => process.exit());
} catch (err) {
  killEverythingNow();
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(0);
    // commander already printed its one-line message
    process.exit(EXIT_CANNOT_RUN);
  }
  if (isLbdrillError(err)) {
    process.stderr.write(`lbdrill: ${err.message}\n`);
    process.exit(err.cannotRun ? EXIT_CANNOT_RUN : 1);
  }
  process.stderr.write(`lbdrill: internal error: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(EXIT_CANNOT_RUN);
}
export { LbdrillError };
