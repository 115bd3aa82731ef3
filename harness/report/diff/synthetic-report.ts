import type { CheckResult, CheckStatus, Severity } from '../../checks/check.ts';
import type { Binding } from '../../contracts/binding.ts';
import type { RunReport, TargetReport } from '../run-report.ts';
import type { LoadedReport } from './load-report.ts';

/** A result of one cell for the diff's unit tests: only what the diff reads. */
export function cellResult(check: string, target: string, status: CheckStatus, extra: { severity?: Severity; observed?: string; evidence?: Record<string, unknown> } = {}): CheckResult {
  return { check, title: `title of ${check}`, target, status, severity: extra.severity ?? 'must', durationMs: 1, expected: 'as the contract says', observed: extra.observed ?? `${status} observed`, evidence: extra.evidence ?? {} };
}

/** A target of a report with these bindings. */
export function targetReport(name: string, bindings: Binding[] = [], binary = `${name}/1.0`): TargetReport {
  return { name, status: 'ran', binary, config: `/cfg/${name}.conf`, bundled: false, rendered: null, mapped: [], listeners: [], backends: [], bindings };
}

/** A loaded report dir holding these results (a small synthetic run of profile `p`). */
export function syntheticReport(dir: string, results: CheckResult[], overrides: Partial<RunReport> = {}): LoadedReport {
  const targets = [...new Set(results.map((r) => r.target))].map((name) => targetReport(name));
  const report: RunReport = { tool: 'lbdrill', version: '0.1.0', profile: 'p', mode: 'quick', seed: 1, startedAt: '2026-12-07T15:00:00.000Z', durationMs: 1000, exitCode: 0, targets, results, ...overrides };
  return { dir, report };
}
