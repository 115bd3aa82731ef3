import { describe, expect, it } from 'vitest';
import { diffReports } from './diff-reports.ts';
import { renderDiffHtml } from './diff-html.ts';
import { cellResult, syntheticReport } from './synthetic-report.ts';

describe('renderDiffHtml', () => {
  const base = syntheticReport('/r/base', [cellResult('prefix.strip', 'nginx', 'pass'), cellResult('balance.weights', 'nginx', 'pass', { evidence: { rows: [{ backend: 'a', share: 0.375 }] } })]);
  const next = syntheticReport('/r/new', [
    cellResult('prefix.strip', 'nginx', 'fail', { observed: 'got <script>alert(1)</script> & more' }),
    cellResult('balance.weights', 'nginx', 'pass', { evidence: { rows: [{ backend: 'a', share: 0.38 }] } }),
  ]);
  const html = renderDiffHtml(diffReports(base, next));

  it('is one page that needs nothing else: no script, no external resource', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|src=|https?:\/\//i);
  });

  it('escapes what the runs observed', () => {
    expect(html).toContain('got &lt;script&gt;alert(1)&lt;/script&gt; &amp; more');
  });

  it('shows the verdict, the changed cell and every measurement with its tolerance', () => {
    expect(html).toContain('<p class="verdict bad">1 must regression (1 cell unchanged, 1 measurement within tolerance) · exit 1</p>');
    expect(html).toContain('<td><span class="st st-pass">pass</span> → <span class="st st-fail">fail</span></td>');
    expect(html).toContain('<td>share of a</td><td class="n">37.5%</td><td class="n">38.0%</td><td class="n">+0.5 points</td><td>34.5% .. 40.5% <span class="muted">±0.03</span></td><td>within</td>');
  });
});
