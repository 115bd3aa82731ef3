import { describe, expect, it } from 'vitest';
import { isLbdrillError } from '../../errors.ts';
import { diffReports, headline } from './diff-reports.ts';
import { cellResult, syntheticReport, targetReport } from './synthetic-report.ts';

describe('diffReports', () => {
  it('exits 1 on a must regression, lists regressions first, and counts each kind', () => {
    const base = syntheticReport('b', [cellResult('x', 'nginx', 'fail'), cellResult('s', 'nginx', 'pass', { severity: 'should' }), cellResult('m', 'nginx', 'pass'), cellResult('u', 'nginx', 'pass')]);
    const next = syntheticReport('n', [cellResult('x', 'nginx', 'pass'), cellResult('s', 'nginx', 'fail', { severity: 'should' }), cellResult('m', 'nginx', 'error'), cellResult('u', 'nginx', 'unsupported')]);
    const diff = diffReports(base, next);
    expect(diff.cells.map((c) => `${c.kind} ${c.check}`)).toEqual(['regression m', 'regression s', 'fix x', 'unsupported u']);
    expect(diff.counts).toMatchObject({ mustRegressions: 1, shouldRegressions: 1, fixes: 1, unsupported: 1, unchangedCells: 0 });
    expect(diff.exitCode).toBe(1);
    expect(headline(diff)).toBe('1 must regression, 1 should regression, 1 fix, 1 newly unsupported cell (0 cells unchanged, 0 measurements within tolerance)');
  });

  it('exits 0 when only a should-check regressed, and says "no change" for identical runs', () => {
    const pass = [cellResult('s', 'nginx', 'pass', { severity: 'should' }), cellResult('m', 'nginx', 'fail')];
    expect(diffReports(syntheticReport('b', pass), syntheticReport('n', [cellResult('s', 'nginx', 'fail', { severity: 'should' }), cellResult('m', 'nginx', 'fail')])).exitCode).toBe(0);
    const same = diffReports(syntheticReport('b', pass), syntheticReport('n', pass));
    expect(same.exitCode).toBe(0);
    expect(headline(same)).toBe('no change (2 cells unchanged, 0 measurements within tolerance)');
  });

  it('notes run settings that make measurements less comparable', () => {
    const base = syntheticReport('b', [cellResult('a', 'haproxy', 'pass')], { targets: [targetReport('haproxy', [], 'HAProxy/2.6.12')] });
    const next = syntheticReport('n', [cellResult('a', 'haproxy', 'pass')], { mode: 'thorough', targets: [targetReport('haproxy', [], 'HAProxy/2.8.1')] });
    expect(diffReports(base, next).notes).toEqual(['mode differs: quick (base) vs thorough (new)', 'haproxy binary differs: HAProxy/2.6.12 (base) vs HAProxy/2.8.1 (new)']);
  });

  it('refuses runs of different profiles with one line naming both', () => {
    const base = syntheticReport('/r/base', [], { profile: 'sysmanage' });
    const next = syntheticReport('/r/new', [], { profile: 'haproxy-role' });
    let caught: unknown;
    try {
      diffReports(base, next);
    } catch (err) {
      caught = err;
    }
    expect(isLbdrillError(caught, 'LBDRILL_ERR_USAGE')).toBe(true);
    expect((caught as Error).message).toBe('/r/base is a run of profile sysmanage, /r/new of haproxy-role: diff compares two runs of one profile');
  });
});
