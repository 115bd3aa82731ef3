import { describe, expect, it } from 'vitest';
import { diffReports } from './diff-reports.ts';
import { renderDiffMarkdown } from './diff-markdown.ts';
import { cellResult, syntheticReport } from './synthetic-report.ts';

describe('renderDiffMarkdown', () => {
  it('starts with the verdict and headline, then a table per kind of change, with cell text made table-safe', () => {
    const base = syntheticReport('/r/base', [cellResult('prefix.strip', 'nginx', 'pass'), cellResult('stream.upload-large', 'nginx', 'pass', { evidence: { mibPerSec: 90 } })]);
    const next = syntheticReport('/r/new', [
      cellResult('prefix.strip', 'nginx', 'fail', { observed: '/api/x reached the backend as /api/x | expected /x\nsecond line' }),
      cellResult('stream.upload-large', 'nginx', 'pass', { evidence: { mibPerSec: 5 } }),
    ]);
    const md = renderDiffMarkdown(diffReports(base, next));
    const lines = md.split('\n');
    expect(lines[0]).toBe('### ❌ lbdrill diff · p: 1 must regression, 1 measurement beyond tolerance (1 cell unchanged, 0 measurements within tolerance)');
    expect(md).toContain('#### Regressions\n\n| check | target | severity | base → new | observed now |');
    expect(md).toContain('| `prefix.strip` | nginx | **must** | ✅ pass → ❌ fail | /api/x reached the backend as /api/x \\| expected /x second line |');
    expect(md).toContain('| `stream.upload-large` | nginx | throughput | 90.0 MiB/s | 5.0 MiB/s | -94% | 5.6 MiB/s .. 1440.0 MiB/s: a factor of 16 |');
    expect(md).not.toContain('#### Fixes');
    expect(md).toContain('- blob throughput (`stream.upload-large`, `stream.download-large`): a factor of 16 either way');
  });

  it('says no change with a green mark when nothing changed', () => {
    const cells = [cellResult('a', 'nginx', 'pass')];
    expect(renderDiffMarkdown(diffReports(syntheticReport('b', cells), syntheticReport('n', cells))).split('\n')[0]).toBe('### ✅ lbdrill diff · p: no change (1 cell unchanged, 0 measurements within tolerance)');
  });
});
