import type { CheckResult, CheckStatus } from '../checks/check.ts';
import type { RunReport } from './run-report.ts';
import { bindingLines } from './bindings-text.ts';

export const STATUS_ICON: Record<CheckStatus, string> = {
  pass: '✅ pass',
  fail: '❌ fail',
  error: '💥 error',
  unsupported: '➖ unsupported',
  skipped: '⏭️ skipped',
};

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The checks x targets matrix and the reasons behind every non-pass, for a CI step summary. */
export function renderSummaryMarkdown(report: RunReport): string {
  const targets = report.targets.map((t) => t.name);
  const checks = [...new Map(report.results.map((r) => [r.check, r])).values()];
  const find = (check: string, target: string): CheckResult | undefined => report.results.find((r) => r.check === check && r.target === target);
  const verdict = report.exitCode === 0 ? '✅ every must-check passed' : '❌ a must-check failed';
  const out: string[] = [
    `# lbdrill: ${report.profile} (${report.mode})`,
    '',
    `${verdict} · exit ${report.exitCode} · ${(report.durationMs / 1000).toFixed(1)} s · seed ${report.seed}`,
    '',
    `| check | severity | ${targets.join(' | ')} |`,
    `| --- | --- | ${targets.map(() => '---').join(' | ')} |`,
  ];
  for (const c of checks) {
    const cells = targets.map((t) => {
      const r = find(c.check, t);
      return r ? STATUS_ICON[r.status] : '';
    });
    out.push(`| \`${c.check}\` | ${c.severity} | ${cells.join(' | ')} |`);
  }
  out.push('', '## Targets', '');
  for (const t of report.targets) {
    const what = t.status === 'skipped' ? `skipped: ${t.reason}` : `${t.binary} with ${t.bundled ? 'the bundled config' : 'the user config'} \`${t.config}\``;
    out.push(`- **${t.name}**: ${what}${t.status === 'crashed' ? ` — crashed: ${t.reason}` : ''}`);
    if (t.mapped.length > 0) out.push(`  - mapped: ${t.mapped.map((m) => `${m.kind} \`${m.from}\` → \`${m.to}\``).join(', ')}`);
    if (t.bindings.length > 0) out.push('  - bound:', ...bindingLines(t.bindings).map((l) => `    - ${cell(l)}`));
  }
  if (report.deployment) {
    const d = report.deployment;
    out.push('', '## Deployed pool', '', `\`${d.file}\`: ${d.url} probed at ${d.probeRatePerSec} req/s (cap ${d.probeRateCapPerSec} req/s); view: ${cell(d.view)}`, '');
    out.push('| when | hook | backend | command | exit | duration |', '| --- | --- | --- | --- | --- | --- |');
    for (const h of d.hooks) out.push(`| ${h.startedAt} | ${h.hook} (${h.purpose}) | ${h.backend} | \`${cell(h.command)}\` | ${h.exitCode ?? h.signal} | ${h.durationMs} ms |`);
  }
  const notable = report.results.filter((r) => r.status !== 'pass' && r.status !== 'skipped');
  if (notable.length > 0) {
    out.push('', '## Not passing', '');
    for (const r of notable) {
      out.push(`- **${r.target} · \`${r.check}\`** (${r.severity}, ${r.status}): ${cell(r.observed)}`, `  - expected: ${cell(r.expected)}`);
    }
  }
  out.push('');
  return out.join('\n');
}
