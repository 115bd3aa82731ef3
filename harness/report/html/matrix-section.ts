import type { CheckResult, CheckStatus } from '../../checks/check.ts';
import { formatMs } from '../../duration.ts';
import type { RunReport } from '../run-report.ts';
import { html, type SafeHtml } from './safe-html.ts';
import type { TargetFiles } from './target-files.ts';

/** What each status means to the reader; `error` is lbdrill's or the setup's problem, not a verdict on the config. */
const STATUS_LEGEND: ReadonlyArray<{ status: CheckStatus; mark: string; meaning: string }> = [
  { status: 'pass', mark: '✓', meaning: 'the config keeps the contract' },
  { status: 'fail', mark: '✗', meaning: 'the config breaks the contract (observed says how)' },
  { status: 'unsupported', mark: '∅', meaning: 'this LB cannot express the contract (observed says why)' },
  { status: 'error', mark: '!', meaning: 'no verdict: a harness or setup problem (the LB crashed, a backend did not start)' },
  { status: 'skipped', mark: '–', meaning: 'not run: the LB is not installed here' },
];

const MARK = Object.fromEntries(STATUS_LEGEND.map((l) => [l.status, l.mark])) as Record<CheckStatus, string>;

/** Evidence beyond this is cut in the page; report.json keeps all of it. */
const EVIDENCE_MAX_CHARS = 20_000;

function evidence(r: CheckResult): SafeHtml {
  if (Object.keys(r.evidence).length === 0) return html``;
  const text = JSON.stringify(r.evidence, null, 2);
  const cut = text.length > EVIDENCE_MAX_CHARS;
  return html`<pre class="evidence">${cut ? `${text.slice(0, EVIDENCE_MAX_CHARS)}\n… (${text.length - EVIDENCE_MAX_CHARS} more characters in report.json)` : text}</pre>`;
}

function links(files: TargetFiles | undefined): SafeHtml {
  if (!files || files.configs.length + files.logs.length === 0) return html``;
  const list = (paths: string[]) => paths.map((p, i) => html`${i ? ' · ' : ''}<a href="${p}">${p.split('/').slice(2).join('/')}</a>`);
  return html`<p class="links">${files.configs.length ? html`config: ${list(files.configs)}` : ''}${files.configs.length && files.logs.length ? html`<br>` : ''}${files.logs.length ? html`logs: ${list(files.logs)}` : ''}</p>`;
}

function cell(r: CheckResult | undefined, target: string, check: string, files: TargetFiles | undefined): SafeHtml {
  if (!r) return html`<td class="cell s-none" data-check="${check}" data-target="${target}" data-status="none"><span class="muted">not in this run</span></td>`;
  return html`<td class="cell s-${r.status} sev-${r.severity}" data-check="${check}" data-target="${target}" data-status="${r.status}" data-severity="${r.severity}"><details><summary><span class="badge">${MARK[r.status]} ${r.status}</span> <span class="muted">${formatMs(r.durationMs)}</span></summary>
<dl><dt>expected</dt><dd>${r.expected || '–'}</dd><dt>observed</dt><dd>${r.observed || '–'}</dd><dt>duration</dt><dd>${formatMs(r.durationMs)}</dd></dl>
${evidence(r)}${links(files)}</details></td>`;
}

/** The legend and the checks × targets matrix, plain HTML: each cell opens to its expected, observed, evidence and the target's files. */
export function renderMatrixSection(report: RunReport, files: ReadonlyMap<string, TargetFiles>): SafeHtml {
  const targets = report.targets.map((t) => t.name);
  const checks = [...new Map(report.results.map((r) => [r.check, r])).values()];
  const find = (check: string, target: string) => report.results.find((r) => r.check === check && r.target === target);
  return html`<section id="matrix"><h2>Checks × targets</h2>
<ul class="legend">${STATUS_LEGEND.map((l) => html`<li><span class="cell s-${l.status}"><span class="badge">${l.mark} ${l.status}</span></span> ${l.meaning}</li>`)}
<li><span class="sev must">must</span> a fail or error fails the run (exit 1) · <span class="sev should">should</span> reported, never fails the run</li></ul>
<div class="scroll"><table class="matrix"><thead><tr><th>check</th>${targets.map((t) => html`<th scope="col">${t}</th>`)}</tr></thead><tbody>
${checks.map(
  (c) => html`<tr class="row-${c.severity}"><th scope="row"><code>${c.check}</code> <span class="sev ${c.severity}">${c.severity}</span><br><span class="title">${c.title}</span></th>${targets.map((t) => cell(find(c.check, t), t, c.check, files.get(t)))}</tr>
`,
)}</tbody></table></div></section>`;
}
