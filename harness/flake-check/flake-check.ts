import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import pc from 'picocolors';
import type { Profile } from '../profiles/profile.ts';
import type { RunReport } from '../report/run-report.ts';
import { TerminalView } from '../report/terminal-view.ts';
import type { TargetSpec } from '../runner/prepare-target.ts';
import { runProfile, type RunOptions } from '../runner/run-profile.ts';
import { scenarioCheck } from '../scenarios/scenario-check.ts';
import { loadProfileScenarios } from '../scenarios/scenario.ts';
import { compareRuns, formatTally } from './compare-runs.ts';
import { renderFlakeMarkdown, type FlakeCheckReport, type FlakeRunRecord } from './flake-markdown.ts';

/** `lbdrill flake-check --profile P --runs N`: what every run gets, and where the runs go. */
export interface FlakeCheckOptions {
  profile: Profile;
  runs: number;
  targets: TargetSpec[];
  /** holds run-01/, run-02/, ... (each a report dir as `lbdrill run` writes it), flake-check.json and flake-check.md. */
  reportDir: string;
  /** what `lbdrill run` takes besides profile, targets and report dir: the same for every run. */
  run: Omit<RunOptions, 'profile' | 'targets' | 'reportDir' | 'extraChecks' | 'onEvent' | 'onMessage'>;
  /** the flags as given, for the report's settings line. */
  settings: Record<string, unknown>;
  /** lbdrill's own progress lines (stderr). */
  onMessage: (line: string) => void;
}

/**
 * Runs the profile `runs` times, each exactly as `lbdrill run` would in its own report dir, and
 * compares the verdicts cell by cell; returns the report (exit code 1 when any cell flipped).
 */
export async function flakeCheck(options: FlakeCheckOptions): Promise<FlakeCheckReport> {
  const startedAt = new Date();
  const t0 = performance.now();
  const profile = options.profile;
  // the profile's scenario files run after its checks, as in `lbdrill run`
  const scenarios = await loadProfileScenarios(profile);
  const reportDir = resolve(options.reportDir);
  await mkdir(reportDir, { recursive: true });
  const width = String(options.runs).length;
  const reports: RunReport[] = [];
  const runRecords: FlakeRunRecord[] = [];
  for (let run = 1; run <= options.runs; run++) {
    const runDir = join(reportDir, `run-${String(run).padStart(width, '0')}`);
    const view = new TerminalView();
    const r0 = performance.now();
    try {
      reports.push(await runProfile({ ...options.run, profile, targets: options.targets, reportDir: runDir, extraChecks: scenarios.map((s) => scenarioCheck(s)), onEvent: view.onEvent, onMessage: (l) => view.message(l) }));
    } finally {
      view.close();
    }
    const report = reports[reports.length - 1]!;
    runRecords.push({ run, reportDir: relative(reportDir, runDir), exitCode: report.exitCode, durationMs: Math.round(performance.now() - r0) });
    const so = compareRuns(reports);
    const line = `run ${run}/${options.runs}: ${so.cells.length} cells, ${so.flips.length} flips so far (${((performance.now() - r0) / 1000).toFixed(1)} s)`;
    options.onMessage(pc.bold(so.flips.length > 0 ? pc.red(line) : line));
  }
  const report: FlakeCheckReport = {
    tool: 'lbdrill',
    command: 'flake-check',
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - t0),
    settings: options.settings,
    runRecords,
    ...compareRuns(reports),
  };
  await writeFile(join(reportDir, 'flake-check.json'), `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(reportDir, 'flake-check.md'), renderFlakeMarkdown(report));
  return report;
}

/** The summary on stdout: one row per cell with its tally, flips marked, then the verdict. */
export function renderFlakeSummary(report: FlakeCheckReport, reportDir: string): string {
  const checkWidth = Math.max(5, ...report.cells.map((c) => c.check.length));
  const targetWidth = Math.max(6, ...report.cells.map((c) => c.target.length));
  const rows = report.cells.map((c) => `${c.check.padEnd(checkWidth)}  ${c.target.padEnd(targetWidth)}  ${(c.flipped ? pc.red('FLIPPED') : pc.green('stable ')).padEnd(7)}  ${formatTally(c.tally)}`);
  const flipLines = report.flips.flatMap((f) => [
    pc.red(`${f.check} on ${f.target} flipped: ${formatTally(f.tally)} (per run: ${f.statuses.join(' ')})`),
    ...f.samples.map((s) => `  run ${s.run} ${s.status}: expected ${s.expected}; observed ${s.observed}`),
  ]);
  const verdict =
    report.flips.length === 0
      ? pc.green(`0 flips: ${report.cells.length} cells, the same verdict in all ${report.runs} runs`)
      : pc.red(`${report.flips.length} of ${report.cells.length} cells flipped in ${report.runs} runs`);
  return [`${'check'.padEnd(checkWidth)}  ${'target'.padEnd(targetWidth)}  verdict  runs`, ...rows, '', ...flipLines, ...(flipLines.length > 0 ? [''] : []), `${verdict} (${(report.durationMs / 1000).toFixed(0)} s, exit ${report.exitCode})`, `flake-check: ${reportDir}/flake-check.md, flake-check.json; each run in ${reportDir}/run-*/`, ''].join('\n');
}
