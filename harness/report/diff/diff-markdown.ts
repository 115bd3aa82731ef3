import { STATUS_ICON } from '../summary-markdown.ts';
import type { CellChange, CellChangeKind } from './compare-cells.ts';
import { headline, type ReportDiff } from './diff-reports.ts';
import { formatChange, formatRange, formatValue } from './format-measurement.ts';

/** Longest `observed` text a table cell shows: a PR comment stays readable, diff.json has it whole. */
const OBSERVED_CHARS = 240;

const SECTIONS: ReadonlyArray<[CellChangeKind, string]> = [
  ['regression', 'Regressions'],
  ['fix', 'Fixes'],
  ['unsupported', 'Newly unsupported'],
  ['added', 'Cells added'],
  ['removed', 'Cells removed'],
  ['changed', 'Other status changes'],
];

function cell(text: string): string {
  const one = text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');
  return one.length > OBSERVED_CHARS ? `${one.slice(0, OBSERVED_CHARS - 1)}…` : one;
}

function status(s: CellChange['base']): string {
  return s === null ? '—' : STATUS_ICON[s];
}

/** The diff as a pull-request comment: headline, changed cells, measurements beyond tolerance, tolerances. */
export function renderDiffMarkdown(diff: ReportDiff): string {
  const icon = diff.exitCode === 1 ? '❌' : diff.counts.measurementsBeyond + diff.cells.length > 0 ? '⚠️' : '✅';
  const out: string[] = [`### ${icon} lbdrill diff · ${diff.profile}: ${headline(diff)}`, ''];
  out.push(`base \`${diff.base.dir}\` (exit ${diff.base.exitCode}) → new \`${diff.new.dir}\` (exit ${diff.new.exitCode}) · exit ${diff.exitCode}`, '');
  for (const note of diff.notes) out.push(`> ⚠️ ${cell(note)}`, '');
  for (const [kind, title] of SECTIONS) {
    const rows = diff.cells.filter((c) => c.kind === kind);
    if (rows.length === 0) continue;
    out.push(`#### ${title}`, '', '| check | target | severity | base → new | observed now |', '| --- | --- | --- | --- | --- |');
    for (const c of rows) out.push(`| \`${c.check}\` | ${c.target} | ${c.severity === 'must' ? '**must**' : 'should'} | ${status(c.base)} → ${status(c.new)} | ${cell(c.observed)} |`);
    out.push('');
  }
  const beyond = diff.measurements.filter((m) => m.beyond);
  if (beyond.length > 0) {
    out.push('#### Measurements beyond tolerance', '', '| check | target | measurement | base | new | change | no change within |', '| --- | --- | --- | --- | --- | --- | --- |');
    for (const m of beyond) out.push(`| \`${m.check}\` | ${m.target} | ${m.name} | ${formatValue(m.unit, m.base)} | ${formatValue(m.unit, m.new)} | ${formatChange(m)} | ${formatRange(m)}: ${cell(m.rule)} |`);
    out.push('');
  }
  out.push('<details><summary>Tolerances: a measurement counts as changed only beyond these (reruns of one config stay within them)</summary>', '');
  for (const t of diff.tolerances) out.push(`- ${t.what} (${t.checks.map((c) => `\`${c}\``).join(', ')}): ${t.tolerance}`);
  out.push('', '</details>', '');
  return out.join('\n');
}
