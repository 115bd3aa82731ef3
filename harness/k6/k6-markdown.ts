import type { RunReport } from '../report/run-report.ts';
import type { K6LoadRun } from './run-k6.ts';

function k6Of(evidence: Record<string, unknown>): K6LoadRun | undefined {
  const k6 = evidence['k6'];
  return typeof k6 === 'object' && k6 !== null && 'thresholds' in k6 ? (k6 as K6LoadRun) : undefined;
}

function ms(value: number | undefined): string {
  return value === undefined ? '–' : `${value.toFixed(1)} ms`;
}

/** summary.md's section on the traffic k6 sent (`--load k6`): one row per scenario × target; empty when k6 sent none. */
export function renderK6Markdown(report: RunReport): string {
  const rows = report.results.flatMap((r) => {
    const k6 = k6Of(r.evidence);
    if (!k6) return [];
    const thresholds = k6.thresholds.map((t) => `${t.crossed ? '✗' : '✓'} \`${t.metric} ${t.expression}\``).join('<br>') || '–';
    const failed = k6.failedRequests === null ? '–' : `${k6.failedRequests} (${((k6.failedRate ?? 0) * 100).toFixed(2)}%)`;
    return [`| ${r.check} | ${r.target} | ${k6.requests} | ${k6.reqPerSec.toFixed(1)} | ${failed} | ${k6.droppedIterations} | ${ms(k6.latencyMs['p(95)'])} | ${ms(k6.latencyMs['p(99)'])} | ${thresholds} |`];
  });
  if (rows.length === 0) return '';
  return [
    '',
    '## Load through k6 (`--load k6`)',
    '',
    "k6's own summary (`run/<target>/k6-<scenario>.summary.json`); a crossed threshold fails the scenario.",
    '',
    '| scenario | target | requests | req/s | failed | dropped | p95 | p99 | thresholds |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows,
    '',
  ].join('\n');
}
