import type { CheckResult } from '../../checks/check.ts';
import { formatMs } from '../../duration.ts';
import type { ChartSet, ChartSpec } from './chart-set.ts';
import { readFailoverTimeline, timelinePath } from './failover-timeline-file.ts';
import { failoverSeries, type FailoverSeries, type Marker, type Point, type TargetTimeline } from './failover-series.ts';
import { html, type SafeHtml } from './safe-html.ts';

const MARKER_DASH: Record<Marker['kind'], number[]> = { 'lb-down': [6, 3], 'lb-up': [6, 3], restart: [2, 2], detect: [], rejoin: [] };
const KIND_DASH = [[], [5, 3], [2, 2], [8, 3, 2, 3]];

/** Targets whose results carry a failover drill (its checks put the timeline files in their evidence). */
function drillTargets(results: readonly CheckResult[]): string[] {
  return [...new Set(results.filter((r) => r.evidence['measurement'] !== undefined && r.evidence['timeline'] !== undefined).map((r) => r.target))];
}

const ms = (v: number | null) => (v === null ? '–' : formatMs(v));

/** Label slots up the line, in %: marks close in time take different ones. */
const LABEL_SLOTS = [12, 24, 36, 48, 60, 72, 84];

/** Lines at the fault and at each target's marks, the same on every chart of the drill; labelled on one chart only, to keep the others readable. */
function annotations(series: FailoverSeries, colors: Record<string, string>, labelled: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {
    fault: { type: 'line', xMin: 0, xMax: 0, borderColor: '#000', borderWidth: 2, label: { display: labelled, content: 'fault', position: 'end', font: { size: 10 } } },
  };
  [...series.markers]
    .sort((a, b) => a.x - b.x)
    .forEach((m, i) => {
      out[`m${i}`] = {
        type: 'line',
        xMin: m.x,
        xMax: m.x,
        borderColor: colors[m.target],
        borderWidth: m.kind === 'detect' || m.kind === 'rejoin' ? 2 : 1,
        borderDash: MARKER_DASH[m.kind],
        label: { display: labelled, content: m.label, position: `${LABEL_SLOTS[i % LABEL_SLOTS.length]}%`, font: { size: 9 }, backgroundColor: `${colors[m.target]}dd`, padding: 2 },
      };
    });
  return out;
}

function lineChart(series: FailoverSeries, datasets: Array<{ label: string; points: Point[]; color: string; dash: number[]; width: number; stepped?: boolean }>, yTitle: string, marks: Record<string, unknown>): ChartSpec {
  return {
    type: 'line',
    data: { datasets: datasets.map((d) => ({ label: d.label, data: d.points, borderColor: d.color, backgroundColor: d.color, borderDash: d.dash, borderWidth: d.width, pointRadius: 0, stepped: d.stepped ?? false, spanGaps: false })) },
    options: {
      parsing: false,
      scales: { x: { type: 'linear', min: series.minX, max: series.maxX, title: { display: true, text: 'seconds since the fault' } }, y: { beginAtZero: true, title: { display: true, text: yTitle } } },
      plugins: { annotation: { annotations: marks } as never, legend: { position: 'bottom' } },
    },
  } as ChartSpec;
}

/**
 * The failover drill of every target that ran it: the numbers as a table (readable without
 * JavaScript) and three charts on one time axis, seconds since the fault.
 */
export async function renderFailoverSection(reportDir: string, results: readonly CheckResult[], charts: ChartSet, colors: Record<string, string>): Promise<SafeHtml> {
  const targets = drillTargets(results);
  if (targets.length === 0) return html``;
  const drills: TargetTimeline[] = [];
  const problems: string[] = [];
  for (const target of targets) {
    const timeline = await readFailoverTimeline(reportDir, target);
    if ('problem' in timeline) problems.push(`${target}: ${timeline.problem}`);
    else drills.push({ target, timeline });
  }
  const series = failoverSeries(drills);
  const rows = drills.map(({ target, timeline: t }) => {
    const m = t.measurement;
    const errors = m.clientErrors === 0 ? '0' : `${m.clientErrors} (${Object.entries(m.errorsByKind).map(([k, n]) => `${n}× ${k}`).join(', ')})`;
    const csv = timelinePath(target).replace(/\.json$/, '.csv');
    return html`<tr><th scope="row"><span class="swatch" style="background:${colors[target]}"></span>${target}</th><td>${t.victim}</td><td>${ms(m.detectMs)} <span class="muted">${m.detectSource === 'lb-event' ? "LB's DOWN report" : 'from traffic'}</span></td><td>${ms(m.lbDownMs)}</td><td>${errors}</td><td>${m.errorsAfterDetect}</td><td>${t.undoAtMs === null ? '–' : formatMs(t.undoAtMs - t.faultAtMs)}</td><td>${ms(m.rejoinMs)}</td><td>${ms(m.lbUpMs)}</td><td><a href="${timelinePath(target)}">json</a> · <a href="${csv}">csv</a></td></tr>`;
  });
  const rps = series.rps.map((s) => ({ label: `${s.target} · ${s.backend}${s.victim ? ' (stopped)' : ''}`, points: s.points, color: colors[s.target]!, dash: s.victim ? [] : [5, 3], width: s.victim ? 2 : 1.5 }));
  const errors = series.errors.map((s, i) => ({ label: `${s.target} · ${s.kind}`, points: s.points, color: colors[s.target]!, dash: KIND_DASH[i % KIND_DASH.length]!, width: 1.5, stepped: true }));
  const latency = series.latency.map((s) => ({ label: s.target, points: s.points, color: colors[s.target]!, dash: [], width: 1.5 }));
  return html`<section id="failover"><h2>Failover drill</h2>
<p>Each target's first primary is stopped at 0 s, restarted, and every probe request is recorded; all targets share one axis, seconds since their fault, in windows of ${series.binMs} ms. Vertical lines, named on the first chart: <b>fault</b> (black), the LB's own DOWN/UP reports (long dashes), restart (dotted), detection from traffic and rejoin (solid), in the target's colour. Detection and rejoin are ms after the fault and after the restart.</p>
<table class="numbers"><thead><tr><th>target</th><th>victim</th><th>detection</th><th>LB DOWN</th><th>client errors</th><th>errors after detection</th><th>restart at</th><th>rejoin</th><th>LB UP</th><th>timeline</th></tr></thead><tbody>${rows}</tbody></table>
${problems.length ? html`<ul class="problems">${problems.map((p) => html`<li>${p}</li>`)}</ul>` : ''}
${drills.length ? charts.figure('failover-rps', 'Requests per second each backend answered', lineChart(series, rps, 'requests/s', annotations(series, colors, true))) : ''}
${errors.length ? charts.figure('failover-errors', 'Client errors per second, by kind', lineChart(series, errors, 'errors/s', annotations(series, colors, false))) : drills.length ? html`<p>No client errors on any target during the drill.</p>` : ''}
${drills.length ? charts.figure('failover-latency', `Latency: the slowest request of each ${series.binMs} ms window`, lineChart(series, latency, 'ms', annotations(series, colors, false))) : ''}
</section>`;
}
