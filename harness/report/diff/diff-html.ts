import escapeHtml from 'escape-html';
import type { CheckStatus } from '../../checks/check.ts';
import type { CellChange, CellChangeKind } from './compare-cells.ts';
import { headline, type ReportDiff } from './diff-reports.ts';
import { formatChange, formatRange, formatValue } from './format-measurement.ts';

const KIND_TITLE: Record<CellChangeKind, string> = {
  regression: 'regression',
  fix: 'fix',
  unsupported: 'newly unsupported',
  added: 'added',
  removed: 'removed',
  changed: 'status changed',
};

/** Plain CSS, inline: the file is opened from a CI artifact or a disk, with no network. */
const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 72rem; padding: 0 1rem; color: #1f2328; }
h1 { font-size: 1.3rem; } h2 { font-size: 1.1rem; margin-top: 1.6rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { border: 1px solid #d0d7de; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
code { font-size: .9em; }
.verdict { padding: .6rem .8rem; border-radius: 6px; font-weight: 600; }
.verdict.bad { background: #ffebe9; border: 1px solid #cf222e; }
.verdict.warn { background: #fff8c5; border: 1px solid #9a6700; }
.verdict.good { background: #dafbe1; border: 1px solid #1a7f37; }
.st { font-weight: 600; white-space: nowrap; }
.st-pass { color: #1a7f37; } .st-fail { color: #cf222e; } .st-error { color: #8250df; } .st-unsupported { color: #9a6700; } .st-skipped, .st-none { color: #656d76; }
tr.k-regression td:first-child { border-left: 4px solid #cf222e; } tr.k-fix td:first-child { border-left: 4px solid #1a7f37; }
tr.beyond td:first-child { border-left: 4px solid #9a6700; }
.muted { color: #656d76; }
.n { white-space: nowrap; }
`;

const e = (text: string): string => escapeHtml(text);

function status(s: CheckStatus | null): string {
  return `<span class="st st-${s ?? 'none'}">${s ?? '—'}</span>`;
}

function cellRow(c: CellChange): string {
  return `<tr class="k-${c.kind}"><td>${e(KIND_TITLE[c.kind])}</td><td><code>${e(c.check)}</code><br><span class="muted">${e(c.title)}</span></td><td>${e(c.target)}</td><td>${c.severity === 'must' ? '<strong>must</strong>' : 'should'}</td><td>${status(c.base)} → ${status(c.new)}</td><td>${e(c.observed)}${c.baseObserved !== null && c.baseObserved !== c.observed ? `<br><span class="muted">before: ${e(c.baseObserved)}</span>` : ''}</td></tr>`;
}

/** The diff as one self-contained HTML page (no script, no network): verdict, changed cells, every measurement with its tolerance. */
export function renderDiffHtml(diff: ReportDiff): string {
  const verdict = diff.exitCode === 1 ? 'bad' : diff.cells.length + diff.counts.measurementsBeyond > 0 ? 'warn' : 'good';
  const out: string[] = [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>lbdrill diff · ${e(diff.profile)}</title>`,
    `<style>${STYLE}</style></head><body>`,
    `<h1>lbdrill diff · profile <code>${e(diff.profile)}</code></h1>`,
    `<p class="verdict ${verdict}">${e(headline(diff))} · exit ${diff.exitCode}</p>`,
    '<h2>Runs</h2>',
    '<table><thead><tr><th>target</th><th>base config</th><th>new config</th><th>binary</th></tr></thead><tbody>',
  ];
  const names = [...new Set([...diff.new.targets, ...diff.base.targets].map((t) => t.name))];
  for (const name of names) {
    const b = diff.base.targets.find((t) => t.name === name);
    const n = diff.new.targets.find((t) => t.name === name);
    const binary = b?.binary === n?.binary ? (n?.binary ?? '—') : `${b?.binary ?? '—'} → ${n?.binary ?? '—'}`;
    out.push(`<tr><td>${e(name)}</td><td><code>${e(b?.config ?? '—')}</code></td><td><code>${e(n?.config ?? '—')}</code></td><td>${e(binary)}</td></tr>`);
  }
  out.push('</tbody></table>');
  out.push(`<p class="muted">base <code>${e(diff.base.dir)}</code> (${e(diff.base.startedAt)}, exit ${diff.base.exitCode}) → new <code>${e(diff.new.dir)}</code> (${e(diff.new.startedAt)}, exit ${diff.new.exitCode})</p>`);
  if (diff.notes.length > 0) out.push(`<ul>${diff.notes.map((n) => `<li>⚠️ ${e(n)}</li>`).join('')}</ul>`);

  out.push('<h2>Changed cells</h2>');
  if (diff.cells.length === 0) out.push(`<p>No cell changed status (${diff.counts.unchangedCells} cells compared).</p>`);
  else {
    out.push('<table><thead><tr><th>change</th><th>check</th><th>target</th><th>severity</th><th>base → new</th><th>observed</th></tr></thead><tbody>');
    out.push(...diff.cells.map(cellRow), '</tbody></table>');
  }

  out.push('<h2>Measurements</h2>');
  if (diff.measurements.length === 0) out.push('<p>No measurement both runs have.</p>');
  else {
    out.push('<table><thead><tr><th>check</th><th>target</th><th>measurement</th><th>base</th><th>new</th><th>change</th><th>no change within</th><th>verdict</th></tr></thead><tbody>');
    for (const m of diff.measurements) {
      out.push(
        `<tr${m.beyond ? ' class="beyond"' : ''}><td><code>${e(m.check)}</code></td><td>${e(m.target)}</td><td>${e(m.name)}</td><td class="n">${e(formatValue(m.unit, m.base))}</td><td class="n">${e(formatValue(m.unit, m.new))}</td><td class="n">${e(formatChange(m))}</td><td>${e(formatRange(m))} <span class="muted">${e(m.rule)}</span></td><td>${m.beyond ? '<strong>beyond tolerance</strong>' : 'within'}</td></tr>`,
      );
    }
    out.push('</tbody></table>');
  }

  out.push('<h2>Tolerances</h2><p>A measurement counts as changed only beyond these; reruns of one config stay within them.</p><ul>');
  for (const t of diff.tolerances) out.push(`<li>${e(t.what)} (${t.checks.map((c) => `<code>${e(c)}</code>`).join(', ')}): ${e(t.tolerance)}</li>`);
  out.push('</ul></body></html>', '');
  return out.join('\n');
}
