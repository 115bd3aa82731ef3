import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderK6Markdown } from '../k6/k6-markdown.ts';
import { writeAllureResults } from './allure/write-allure-results.ts';
import { writeReportHtml } from './html/render-report-html.ts';
import { renderJunit } from './junit.ts';
import type { RunReport } from './run-report.ts';
import { renderSummaryMarkdown } from './summary-markdown.ts';

/** Every file a run leaves in its report directory, from the one report: report.json, junit.xml, summary.md, report.html, allure-results/. */
export async function writeReportFiles(reportDir: string, report: RunReport): Promise<void> {
  await writeFile(join(reportDir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  await writeFile(join(reportDir, 'junit.xml'), renderJunit(report));
  await writeFile(join(reportDir, 'summary.md'), renderSummaryMarkdown(report) + renderK6Markdown(report));
  await writeReportHtml(reportDir, report);
  writeAllureResults(reportDir, report);
}
