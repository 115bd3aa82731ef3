import { describe, expect, it } from 'vitest';
import { judgeGenerator, summarize, type BenchCell } from '../bench/bench-report.ts';
import type { SmallRequestResult } from '../bench/load/small-requests.ts';

function cell(target: string, metric: 'small' | 'wrk', round: number, reqPerSec: number): BenchCell {
  const small: SmallRequestResult = { durationMs: 10_000, requests: reqPerSec * 10, reqPerSec, latencyMs: { p50: 1, p90: 2, p99: 3, max: 4, mean: 1 }, errors: 0, errorKinds: {} };
  return { round, target, metric, small };
}

describe('bench: built-in load generator against wrk', () => {
  it('judges the median of per-round ratios at 0.9× on each target both measured', () => {
    const cells = [
      // nginx: rounds at 0.95, 0.92 and (a noisy round) 0.5 → median 0.92, met
      cell('nginx', 'small', 1, 9500), cell('nginx', 'wrk', 1, 10_000),
      cell('nginx', 'small', 2, 4600), cell('nginx', 'wrk', 2, 5000),
      cell('nginx', 'small', 3, 3000), cell('nginx', 'wrk', 3, 6000),
      // reference: 0.8 each round, not met
      cell('reference', 'small', 1, 4000), cell('reference', 'wrk', 1, 5000),
      // haproxy: no wrk cell, no verdict
      cell('haproxy', 'small', 1, 7000),
    ];
    const summary = summarize(cells, ['nginx', 'reference', 'haproxy'], ['small', 'wrk']);
    const verdicts = judgeGenerator(summary, ['nginx', 'reference', 'haproxy']);
    expect(verdicts.map((v) => [v.target, Number(v.ratio!.toFixed(2)), v.met])).toEqual([
      ['nginx', 0.92, true],
      ['reference', 0.8, false],
    ]);
    expect(summary['nginx']!.wrk!.p99Ms).toBe(3);
  });

  it('a failed wrk cell leaves the target not measured', () => {
    const failed: BenchCell = { round: 1, target: 'nginx', metric: 'wrk', error: 'wrk exited 1' };
    const summary = summarize([cell('nginx', 'small', 1, 9000), failed], ['nginx'], ['small', 'wrk']);
    expect(judgeGenerator(summary, ['nginx'])).toEqual([{ target: 'nginx', builtin: 9000, wrk: null, ratio: null, met: null }]);
  });
});
