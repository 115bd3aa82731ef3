import { Status } from 'allure-js-commons';
import type { Category, EnvironmentInfo } from 'allure-js-commons/sdk';
import type { RunReport } from '../run-report.ts';

/** Allure's Environment widget: what makes two runs comparable (versions, seed, time scale). */
export function allureEnvironment(report: RunReport): EnvironmentInfo {
  const env: EnvironmentInfo = {
    lbdrill: report.version,
    profile: report.profile,
    mode: report.mode,
    seed: String(report.seed),
    'time scale': report.failover ? String(report.failover.timeScale) : 'none (profile has no failover checks)',
    'started at': report.startedAt,
  };
  for (const target of report.targets) env[target.name] = target.binary ?? `not installed (${target.reason ?? target.status})`;
  if (report.deployment) env.deployment = `${report.deployment.file} (${report.deployment.url})`;
  return env;
}

/**
 * Allure's Categories tab, matched on the status message allure-test-result.ts writes
 * (`must: …`, `should: …`, `unsupported: …`, `skipped: …`); Allure matches the whole message.
 */
export const ALLURE_CATEGORIES: readonly Category[] = [
  { name: 'must-check failed (the run exits 1)', matchedStatuses: [Status.FAILED], messageRegex: '(?s)must: .*' },
  { name: 'should-check failed', matchedStatuses: [Status.FAILED], messageRegex: '(?s)should: .*' },
  { name: 'no verdict: harness or setup problem (error)', matchedStatuses: [Status.BROKEN] },
  { name: 'unsupported: the target cannot express the contract', matchedStatuses: [Status.SKIPPED], messageRegex: '(?s)unsupported: .*' },
  { name: 'skipped: target not installed', matchedStatuses: [Status.SKIPPED], messageRegex: '(?s)skipped: .*' },
];
