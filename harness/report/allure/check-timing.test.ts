import { describe, expect, it } from 'vitest';
import type { CheckResult } from '../../checks/check.ts';
import { checkTimings } from './check-timing.ts';

describe('check timings from a report', () => {
  it('lays the checks end to end from the run start, each as long as its duration', () => {
    const results = [{ durationMs: 100 }, { durationMs: 40.6 }, { durationMs: 0 }] as CheckResult[];
    const timings = checkTimings({ startedAt: '2026-12-07T15:00:00.000Z', results });
    const t0 = Date.parse('2026-12-07T15:00:00.000Z');
    expect(results.map((r) => timings.get(r))).toEqual([
      { start: t0, stop: t0 + 100 },
      { start: t0 + 100, stop: t0 + 141 },
      { start: t0 + 141, stop: t0 + 141 },
    ]);
  });
});
