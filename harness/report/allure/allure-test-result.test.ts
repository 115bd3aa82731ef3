import { describe, expect, it } from 'vitest';
import type { CheckResult } from '../../checks/check.ts';
import type { RunReport } from '../run-report.ts';
import { allureFullName, allureTestResult } from './allure-test-result.ts';

const REPORT = { profile: 'haproxy-role' } as RunReport;
const TIMING = { start: 1_000, stop: 1_250 };

function result(over: Partial<CheckResult> = {}): CheckResult {
  return {
    check: 'failover.detect-within-budget',
    title: 'a killed server is taken out of rotation within the detect budget',
    target: 'nginx',
    status: 'pass',
    severity: 'must',
    durationMs: 250,
    expected: 'out of rotation within 2 s',
    observed: 'out of rotation after 54 ms',
    evidence: {},
    ...over,
  };
}

function label(test: ReturnType<typeof allureTestResult>, name: string): string[] {
  return (test.labels ?? []).filter((l) => l.name === name).map((l) => l.value);
}

describe('a check × target as an Allure test', () => {
  it('maps every lbdrill status to Allure’s, with the reason of a skip as the message', () => {
    const cases: Array<[CheckResult['status'], string, string | undefined]> = [
      ['pass', 'passed', undefined],
      ['fail', 'failed', 'must: expected out of rotation within 2 s; observed out of rotation after 54 ms'],
      ['error', 'broken', 'must: expected out of rotation within 2 s; observed out of rotation after 54 ms'],
      ['unsupported', 'skipped', 'unsupported: out of rotation after 54 ms'],
      ['skipped', 'skipped', 'skipped: out of rotation after 54 ms'],
    ];
    for (const [status, allure, message] of cases) {
      const test = allureTestResult(REPORT, result({ status }), TIMING);
      expect([status, test.status, test.statusDetails?.message]).toEqual([status, allure, message]);
    }
  });

  it('puts the severity first in a failure message, so Allure’s categories tell must from should', () => {
    expect(allureTestResult(REPORT, result({ status: 'fail', severity: 'should' }), TIMING).statusDetails?.message).toMatch(/^should: expected /);
  });

  it('labels suite = profile, sub-suite and tag = target, severity must → critical and should → normal', () => {
    const must = allureTestResult(REPORT, result(), TIMING);
    expect(label(must, 'suite')).toEqual(['haproxy-role']);
    expect(label(must, 'subSuite')).toEqual(['nginx']);
    expect(label(must, 'tag')).toContain('nginx');
    expect(label(must, 'severity')).toEqual(['critical']);
    expect(label(must, 'feature')).toEqual(['failover']);
    expect(label(must, 'story')).toEqual(['failover.detect-within-budget']);
    expect(label(allureTestResult(REPORT, result({ severity: 'should' }), TIMING), 'severity')).toEqual(['normal']);
  });

  it('names a test by check and target, with a full name that is the same in every run and differs per target', () => {
    const test = allureTestResult(REPORT, result(), TIMING);
    expect(test.name).toBe('failover.detect-within-budget on nginx');
    expect(test.fullName).toBe('lbdrill.haproxy-role.nginx.failover.detect-within-budget');
    expect(allureTestResult(REPORT, result({ status: 'fail', durationMs: 9 }), { start: 5, stop: 14 }).fullName).toBe(test.fullName);
    expect(allureFullName('haproxy-role', { check: 'failover.detect-within-budget', target: 'haproxy' })).not.toBe(test.fullName);
  });

  it('describes title, expected and observed, and keeps the given start and stop', () => {
    const test = allureTestResult(REPORT, result(), TIMING);
    expect(test.description).toContain('a killed server is taken out of rotation within the detect budget');
    expect(test.description).toContain('**Expected:** out of rotation within 2 s');
    expect(test.description).toContain('**Observed:** out of rotation after 54 ms');
    expect([test.start, test.stop]).toEqual([1_000, 1_250]);
  });
});
