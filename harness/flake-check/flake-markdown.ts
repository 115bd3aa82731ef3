import { formatTally, type FlakeComparison } from './compare-runs.ts';

/** Evidence beyond this many characters is cut in flake-check.md (flake-check.json keeps all of it). */
const EVIDENCE_CHARS = 1_500;

/** One run of a flake check, as flake-check.json lists it. */
export interface FlakeRunRecord {
  run: number;
  reportDir: string;
  exitCode: number;
  durationMs: number;
}

/** flake-check.json: the settings, every run and every cell. */
export interface FlakeCheckReport extends FlakeComparison {
  tool: 'lbdrill';
  command: 'flake-check';
  startedAt: string;
  durationMs: number;
  /** the flags every run got (targets, time scale, only, seed, ...). */
  settings: Record<string, unknown>;
  runRecords: FlakeRunRecord[];
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function evidenceText(evidence: Record<string, unknown>): string {
  const json = JSON.stringify(evidence);
  return json.length > EVIDENCE_CHARS ? `${json.slice(0, EVIDENCE_CHARS)}\n… (${json.length} characters, all in flake-check.json)` : json;
}

/** flake-check.md: the verdict, every flipped cell with a sample of each status, then the tally of every cell. */
export function renderFlakeMarkdown(report: FlakeCheckReport): string {
  const lines: string[] = [];
  const verdict = report.flips.length === 0 ? `**0 flips**: every one of ${report.cells.length} cells gave the same verdict in all ${report.runs} runs` : `**${report.flips.length} of ${report.cells.length} cells flipped** in ${report.runs} runs`;
  lines.push(`# lbdrill flake-check: profile ${report.profile}`, '', `${verdict} (${(report.durationMs / 1000).toFixed(0)} s).`, '');
  lines.push(`Settings: ${Object.entries(report.settings).map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(', ') : String(v)}`).join('; ')}`, '');
  for (const flip of report.flips) {
    lines.push(`## ${flip.check} on ${flip.target}: ${formatTally(flip.tally)}`, '', `${flip.severity}: ${flip.title}. Status per run: ${flip.statuses.join(' ')}`, '');
    for (const s of flip.samples) {
      lines.push(`### run ${s.run}: ${s.status}`, '', `- expected: ${s.expected}`, `- observed: ${s.observed}`, '', '```json', evidenceText(s.evidence), '```', '');
    }
  }
  lines.push('## Every cell', '', '| check | target | severity | runs | verdict |', '| --- | --- | --- | --- | --- |');
  for (const c of report.cells) lines.push(`| ${cell(c.check)} | ${c.target} | ${c.severity} | ${formatTally(c.tally)} | ${c.flipped ? '**FLIPPED**' : 'stable'} |`);
  lines.push('', '| run | exit | seconds | report |', '| --- | --- | --- | --- |');
  for (const r of report.runRecords) lines.push(`| ${r.run} | ${r.exitCode} | ${(r.durationMs / 1000).toFixed(1)} | ${r.reportDir} |`);
  return `${lines.join('\n')}\n`;
}
