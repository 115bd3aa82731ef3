import { describe, expect, it } from 'vitest';
import { inFlight } from './balance-weights.ts';

describe('requests in flight for balance.weights', () => {
  it('is a multiple of the reduced weight total, so least-connection can hold the weighted shares exactly', () => {
    expect(inFlight([3, 1, 1])).toBe(50); // 30:10:10, not 48's best 28:10:10 (58 %)
    expect(inFlight([3, 3, 2])).toBe(48);
    expect(inFlight([300, 100, 100])).toBe(50);
    expect(inFlight([1, 1])).toBe(48);
  });

  it('keeps 48 where a multiple would exceed 64 in flight, and when no weight is known', () => {
    expect(inFlight([50, 17])).toBe(48);
    expect(inFlight([0, 0])).toBe(48);
  });
});
