import { describe, expect, it } from 'vitest';
import { statusRange } from './status-range.ts';

describe('statusRange', () => {
  it('gives the one run of codes a test accepts', () => {
    expect(statusRange((c) => /^2/.test(String(c)))).toEqual({ min: 200, max: 299 });
    expect(statusRange((c) => /^[234]/.test(String(c)))).toEqual({ min: 200, max: 499 });
    expect(statusRange((c) => c === 200)).toEqual({ min: 200, max: 200 });
  });

  it('claims no range for codes in several runs, or for none', () => {
    expect(statusRange((c) => c === 200 || c === 204)).toBeNull();
    expect(statusRange(() => false)).toBeNull();
  });
});
