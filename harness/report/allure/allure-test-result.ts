import { LabelName, Severity, Stage, Status, type Label, type TestResult } from 'allure-js-commons';
import type { CheckResult, CheckStatus } from '../../checks/check.ts';
import type { RunReport } from '../run-report.ts';

const STATUS: Readonly<Record<CheckStatus, Status>> = {
  pass: Status.PASSED,
  fail: Status.FAILED,
  // the check could not reach a verdict (harness or setup problem): Allure's "broken", not a failure of the LB
  error: Status.BROKEN,
  unsupported: Status.SKIPPED,
  skipped: Status.SKIPPED,
};

const SEVERITY = { must: Severity.CRITICAL, should: Severity.NORMAL } as const;

/**
 * The stable identity of a check × target: Allure derives testCaseId and historyId from it, so the
 * same cell in the next run of the profile continues the same history and trend.
 */
export function allureFullName(profile: string, result: Pick<CheckResult, 'check' | 'target'>): string {
  return `lbdrill.${profile}.${result.target}.${result.check}`;
}

/** The verdict line Allure shows and its categories match on: `<severity|status>: …`. */
function statusMessage(result: CheckResult): string {
  if (result.status === 'unsupported' || result.status === 'skipped') return `${result.status}: ${result.observed}`;
  return `${result.severity}: expected ${result.expected}; observed ${result.observed}`;
}

function description(result: CheckResult): string {
  return [
    `**${result.title}** (\`${result.check}\`, ${result.severity}-check on ${result.target})`,
    '',
    `**Expected:** ${result.expected}`,
    '',
    `**Observed:** ${result.observed}`,
  ].join('\n');
}

/** One check × target of a finished run as an Allure test result: name, identity, verdict, labels, timing. */
export function allureTestResult(report: RunReport, result: CheckResult, timing: { start: number; stop: number }): Partial<TestResult> {
  const family = result.check.split('.')[0] ?? result.check;
  const labels: Label[] = [
    { name: LabelName.SUITE, value: report.profile },
    { name: LabelName.SUB_SUITE, value: result.target },
    { name: LabelName.EPIC, value: `profile ${report.profile}` },
    { name: LabelName.FEATURE, value: family },
    { name: LabelName.STORY, value: result.check },
    { name: LabelName.SEVERITY, value: SEVERITY[result.severity] },
    { name: LabelName.TAG, value: result.target },
    { name: LabelName.TAG, value: result.severity },
    { name: LabelName.FRAMEWORK, value: 'lbdrill' },
  ];
  return {
    name: `${result.check} on ${result.target}`,
    fullName: allureFullName(report.profile, result),
    status: STATUS[result.status],
    stage: Stage.FINISHED,
    ...(result.status === 'pass' ? {} : { statusDetails: { message: statusMessage(result) } }),
    description: description(result),
    labels,
    parameters: [{ name: 'target', value: result.target }],
    start: timing.start,
    stop: timing.stop,
  };
}
