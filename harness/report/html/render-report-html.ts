import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatMs } from '../../duration.ts';
import type { RunReport } from '../run-report.ts';
import { ChartSet } from './chart-set.ts';
import { renderFailoverSection } from './failover-section.ts';
import { renderMatrixSection } from './matrix-section.ts';
import { renderMeasurementSections } from './measurement-sections.ts';
import { renderPage } from './page-shell.ts';
import { html } from './safe-html.ts';
import { targetColors } from './target-colors.ts';
import { targetFiles, type TargetFiles } from './target-files.ts';
import { renderTargetsSection } from './targets-section.ts';

/** The comparison report of a run as one self-contained HTML document; reads the timelines and lists the files under `reportDir`. */
export async function renderReportHtml(reportDir: string, report: RunReport): Promise<string> {
  const colors = targetColors(report.targets.map((t) => t.name));
  const files = new Map<string, TargetFiles>();
  for (const t of report.targets) files.set(t.name, await targetFiles(reportDir, t));
  const charts = new ChartSet();
  const failover = await renderFailoverSection(reportDir, report.results, charts, colors);
  const measurements = renderMeasurementSections(report.results, charts, colors);
  const title = `lbdrill: ${report.profile} (${report.mode})`;
  const ok = report.exitCode === 0;
  const budgets = report.failover ? Object.entries(report.failover.budgetsMs).map(([k, v]) => `${k} ${formatMs(v)}`).join(', ') : '';
  const body = html`<header><h1>${title}</h1>
<p><span class="verdict ${ok ? 'ok' : 'bad'}">${ok ? 'every must-check passed' : 'a must-check failed or could not be judged'} · exit ${report.exitCode}</span></p>
<p class="muted">lbdrill ${report.version} · started ${report.startedAt} · ${formatMs(report.durationMs)} · seed ${report.seed}${report.failover ? ` · time scale ${report.failover.timeScale}, probe ${report.failover.probeRatePerSec} req/s${budgets ? `, budgets ${budgets}` : ''}` : ''}</p>
<nav><a href="#matrix">matrix</a>${failover.value ? html`<a href="#failover">failover drill</a>` : ''}${measurements.value ? html`<a href="#measurements">measurements</a>` : ''}<a href="#targets">targets, bindings, mappings</a><a href="report.json">report.json</a><a href="summary.md">summary.md</a><a href="junit.xml">junit.xml</a></nav></header>
<main>${renderMatrixSection(report, files)}${failover}${measurements}${renderTargetsSection(report.targets, colors, report.deployment)}</main>`;
  return renderPage(title, body, charts.specs());
}

/** Writes report.html beside report.json. */
export async function writeReportHtml(reportDir: string, report: RunReport): Promise<void> {
  await writeFile(join(reportDir, 'report.html'), await renderReportHtml(reportDir, report));
}
