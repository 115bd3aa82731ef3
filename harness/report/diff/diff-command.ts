import { join } from 'node:path';
import pc from 'picocolors';
import { LbdrillError } from '../../errors.ts';
import { loadProfile } from '../../profiles/profile.ts';
import type { TargetSpec } from '../../runner/prepare-target.ts';
import { runProfile, type RunOptions } from '../../runner/run-profile.ts';
import { scenarioCheck } from '../../scenarios/scenario-check.ts';
import { loadProfileScenarios } from '../../scenarios/scenario.ts';
import { TerminalView } from '../terminal-view.ts';
import { diffReports } from './diff-reports.ts';
import { renderDiffMarkdown } from './diff-markdown.ts';
import { loadReport } from './load-report.ts';
import { writeDiffFiles } from './write-diff.ts';

/** `lbdrill diff BASE NEW`: two report dirs that exist. */
export interface DiffDirs {
  baseDir: string;
  newDir: string;
  out?: string;
}

/** `lbdrill diff --profile P --base NAME=OLD --target NAME=NEW`: run both, keep both under reportDir, then diff. */
export interface DiffRuns {
  profile: string;
  base: TargetSpec[];
  target: TargetSpec[];
  reportDir: string;
  out?: string;
  /** what `lbdrill run` takes besides profile, targets and report dir: the same for both runs. */
  run: Omit<RunOptions, 'profile' | 'targets' | 'reportDir' | 'extraChecks' | 'onEvent' | 'onMessage'>;
}

/** Diffs two report dirs: the Markdown on stdout, the files in `out`; returns the exit code (1: a must-check regressed). */
export async function diffDirs(options: DiffDirs): Promise<0 | 1> {
  const [base, next] = await Promise.all([loadReport(options.baseDir), loadReport(options.newDir)]);
  const diff = diffReports(base, next);
  process.stdout.write(renderDiffMarkdown(diff));
  if (options.out) {
    await writeDiffFiles(options.out, diff);
    process.stderr.write(`diff: ${join(options.out, 'diff.md')}, diff.json, diff.html\n`);
  }
  return diff.exitCode;
}

function names(specs: readonly TargetSpec[]): string {
  return specs.map((s) => s.name).sort().join(', ');
}

/** Runs the profile on the base configs, then on the new ones, as `lbdrill run` does, and diffs the two runs. */
export async function diffRuns(options: DiffRuns): Promise<0 | 1> {
  if (names(options.base) !== names(options.target)) {
    throw new LbdrillError('LBDRILL_ERR_USAGE', `--base and --target must name the same targets: base ${names(options.base) || 'none'}, new ${names(options.target) || 'none'}`);
  }
  const profile = loadProfile(options.profile);
  // the profile's scenario files run after its checks, as in `lbdrill run`
  const scenarios = await loadProfileScenarios(profile);
  const dirs = { base: join(options.reportDir, 'base'), new: join(options.reportDir, 'new') };
  for (const [side, targets] of [['base', options.base], ['new', options.target]] as const) {
    const view = new TerminalView();
    view.message(`${pc.bold('lbdrill diff')}: ${side} run of profile ${pc.bold(profile.name)} on ${targets.map((t) => (t.configFile ? `${t.name}=${t.configFile}` : t.name)).join(', ')}, report in ${dirs[side]}`);
    try {
      await runProfile({ ...options.run, profile, targets, reportDir: dirs[side], extraChecks: scenarios.map((s) => scenarioCheck(s)), onEvent: view.onEvent, onMessage: (l) => view.message(l) });
    } finally {
      view.close();
    }
  }
  return diffDirs({ baseDir: dirs.base, newDir: dirs.new, out: options.out ?? options.reportDir });
}
