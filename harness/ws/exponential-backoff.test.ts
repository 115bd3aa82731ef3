import { describe, expect, it } from 'vitest';
import { seededRandom } from '../faults/seeded-random.ts';
import { ExponentialBackoff } from './exponential-backoff.ts';

describe('ExponentialBackoff', () => {
  it('doubles from initialMs up to maxMs, each delay within [base × (1 − jitter), base]', () => {
    const b = new ExponentialBackoff({ initialMs: 100, maxMs: 1000 }, seededRandom(1));
    const bases = [100, 200, 400, 800, 1000, 1000, 1000];
    for (const [attempt, base] of bases.entries()) {
      const d = b.delayMs(attempt);
      expect(d).toBeGreaterThanOrEqual(base / 2);
      expect(d).toBeLessThanOrEqual(base);
    }
    expect(b.delayMs(10_000)).toBeLessThanOrEqual(1000);
  });

  it('is deterministic per seed and exact without jitter', () => {
    const draw = (seed: number) => {
      const b = new ExponentialBackoff({ initialMs: 50, maxMs: 5000 }, seededRandom(seed));
      return [0, 1, 2, 3, 4].map((a) => b.delayMs(a));
    };
    expect(draw(3)).toEqual(draw(3));
    expect(draw(3)).not.toEqual(draw(4));
    const exact = new ExponentialBackoff({ initialMs: 50, maxMs: 300, multiplier: 3, jitter: 0 }, Math.random);
    expect([0, 1, 2].map((a) => exact.delayMs(a))).toEqual([50, 150, 300]);
  });

  it('rejects bad settings with a RangeError naming the field', () => {
    expect(() => new ExponentialBackoff({ initialMs: 100, maxMs: 50 }, Math.random)).toThrow(/backoff.maxMs/);
    expect(() => new ExponentialBackoff({ initialMs: 1, maxMs: 5, jitter: 2 }, Math.random)).toThrow(/backoff.jitter/);
    expect(() => new ExponentialBackoff({ initialMs: -1, maxMs: 5 }, Math.random)).toThrow(/backoff.initialMs/);
  });
});
