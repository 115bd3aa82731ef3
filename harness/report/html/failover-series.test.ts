import { describe, expect, it } from 'vitest';
import type { FailoverTimeline } from './failover-timeline-file.ts';
import { failoverSeries } from './failover-series.ts';

/** A drill at 20 req/s alternating a and b, with `a` stopped at `faultAtMs` and answering again 1 s after the restart. */
function timeline(faultAtMs: number, measurement: Partial<FailoverTimeline['measurement']> = {}): FailoverTimeline {
  const samples: FailoverTimeline['samples'] = [];
  for (let t = 0; t < faultAtMs + 3000; t += 50) {
    const down = t >= faultAtMs && t < faultAtMs + 2000;
    const backend = t % 100 === 0 && !down ? 'a' : 'b';
    const failed = t === faultAtMs; // the one request in flight when a stopped
    samples.push({ sentAtMs: t, latencyMs: failed ? 900 : 2, backend: failed ? null : backend, status: failed ? 502 : 200, error: null });
  }
  return {
    victim: 'a',
    serverName: 'srv-a',
    resolutionMs: 50,
    faultAtMs,
    undoAtMs: faultAtMs + 1000,
    lbEvents: [],
    measurement: { detectMs: 300, detectSource: 'lb-event', lbDownMs: 300, rejoinMs: 1000, lbUpMs: 800, clientErrors: 1, errorsByKind: { '502': 1 }, errorsAfterDetect: 0, ...measurement },
    samples,
  };
}

describe('failoverSeries', () => {
  const series = failoverSeries([
    { target: 'haproxy', timeline: timeline(1000) },
    { target: 'nginx', timeline: timeline(4000, { detectSource: 'traffic', lbDownMs: null, lbUpMs: null, detectMs: 150 }) },
  ]);

  it('puts every target on one axis, seconds since its own fault', () => {
    expect(series.binMs).toBe(100);
    expect(series.minX).toBe(-4);
    expect(series.maxX).toBe(3);
    const first = (target: string) => series.latency.find((l) => l.target === target)!.points[0]!.x;
    expect(first('haproxy')).toBe(-1);
    expect(first('nginx')).toBe(-4);
  });

  it('gives requests per second per backend: the stopped one drops to 0 after the fault, and comes back', () => {
    const a = series.rps.find((s) => s.target === 'haproxy' && s.backend === 'a')!;
    expect(a.victim).toBe(true);
    const at = (x: number) => a.points.find((p) => p.x === x)!.y;
    expect(at(-0.5)).toBe(10); // one in two of 20 req/s
    expect(at(0.5)).toBe(0);
    expect(at(2.5)).toBe(10);
    expect(series.rps.map((s) => `${s.target} ${s.backend}`)).toEqual(['haproxy a', 'haproxy b', 'nginx a', 'nginx b']);
  });

  it('counts client errors by kind where they happened, and the slowest request of each window', () => {
    expect(series.errors.map((e) => `${e.target} ${e.kind}`)).toEqual(['haproxy status 502', 'nginx status 502']);
    const errs = series.errors[0]!.points.filter((p) => p.y !== 0);
    expect(errs).toEqual([{ x: 0, y: 10 }]);
    expect(series.latency[0]!.points.find((p) => p.x === 0)!.y).toBe(900);
  });

  it('marks the LB reports, restart and rejoin in s since the fault; detection from traffic only where the LB reported nothing', () => {
    const marks = (target: string) => series.markers.filter((m) => m.target === target).map((m) => `${m.kind}@${m.x}`);
    expect(marks('haproxy')).toEqual(['lb-down@0.3', 'restart@1', 'lb-up@1.8', 'rejoin@2']);
    expect(marks('nginx')).toEqual(['detect@0.15', 'restart@1', 'rejoin@2']);
  });
});
