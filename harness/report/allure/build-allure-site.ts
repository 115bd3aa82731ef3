import { cpSync, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { LbdrillError } from '../../errors.ts';
import { ManagedProcess } from '../../process/managed-process.ts';
import type { RunReport } from '../run-report.ts';
import { requireJava } from './java-runtime.ts';
import { readRunReport } from '../rebuild-report.ts';
import { ALLURE_RESULTS_DIR } from './write-allure-results.ts';

/** Where the Allure site goes inside a report dir. */
export const ALLURE_REPORT_DIR = 'allure-report';

/** allure-commandline's launcher: a shell script that runs the Allure jar on Java. */
function allureLauncher(): string {
  return join(dirname(createRequire(import.meta.url).resolve('allure-commandline/package.json')), 'dist', 'bin', 'allure');
}

/** How many tests the generated site holds (widgets/summary.json), to catch results that do not match the report. */
function siteTotal(site: string): number {
  const summary = JSON.parse(readFileSync(join(site, 'widgets', 'summary.json'), 'utf8')) as { statistic?: { total?: number } };
  return summary.statistic?.total ?? 0;
}

/** Options of `lbdrill report DIR --allure`. */
export interface AllureSiteOptions {
  /** an earlier run's report dir whose Allure site's history continues in this one (trends, flaky and new-failure marks). */
  historyFrom?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Builds the Allure site of a report dir (its allure-results/ written from `report`) with allure-commandline (`allure generate`) into
 * DIR/allure-report and returns its absolute path. Bad input and a missing Java are LbdrillErrors
 * (exit 2); the allure process is stopped on every exit path.
 */
export async function buildAllureSite(reportDir: string, report: RunReport, options: AllureSiteOptions = {}): Promise<string> {
  const dir = resolve(reportDir);
  let history: string | undefined;
  if (options.historyFrom) {
    await readRunReport(resolve(options.historyFrom));
    history = join(resolve(options.historyFrom), ALLURE_REPORT_DIR, 'history');
    if (!existsSync(history)) throw new LbdrillError('LBDRILL_ERR_USAGE', `--history-from ${options.historyFrom} has no Allure site yet: run lbdrill report ${options.historyFrom} --allure first`);
  }
  const env = options.env ?? process.env;
  await requireJava(env);
  const results = join(dir, ALLURE_RESULTS_DIR);
  // Allure carries history forward by reading the previous site's history/ from the results dir.
  if (history) cpSync(history, join(results, 'history'), { recursive: true });
  const site = join(dir, ALLURE_REPORT_DIR);
  await using allure = new ManagedProcess({ command: allureLauncher(), args: ['generate', '--clean', '--name', `lbdrill ${report.profile}`, '--output', site, results], label: 'allure', env });
  await allure.exited();
  if (allure.exitCode !== 0) {
    throw new LbdrillError('LBDRILL_ERR_REPORT_BUILD', `allure generate failed (exit ${allure.exitCode ?? allure.exitSignal}): ${allure.tail(1)[0] ?? 'no output'}`);
  }
  // allure generate makes an empty site of an empty or foreign results dir without complaint
  const total = siteTotal(site);
  if (total !== report.results.length) {
    throw new LbdrillError('LBDRILL_ERR_REPORT_BUILD', `the Allure site holds ${total} tests but report.json has ${report.results.length} results: remove ${results} and lbdrill writes it again from report.json`);
  }
  return site;
}
