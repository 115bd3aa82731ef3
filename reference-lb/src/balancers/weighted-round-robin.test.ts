import { describe, expect, it } from 'vitest';
import { UpstreamServer } from '../upstream-server.ts';
import { WeightedRoundRobin } from './weighted-round-robin.ts';

function servers(...specs: Array<[string, number?, boolean?]>): UpstreamServer[] {
  return specs.map(([address, weight, backup]) => new UpstreamServer(address, { weight: weight ?? 1, backup: backup ?? false }));
}

function picks(rr: WeightedRoundRobin, n: number, exclude?: ReadonlySet<UpstreamServer>): string[] {
  return Array.from({ length: n }, () => rr.pick(exclude)?.address ?? '-');
}

describe('WeightedRoundRobin', () => {
  it('cycles over available servers in config order and skips excluded and unavailable ones', () => {
    const s = servers(['a:1'], ['b:1'], ['c:1']);
    const rr = new WeightedRoundRobin(s);
    expect(picks(rr, 4)).toEqual(['a:1', 'b:1', 'c:1', 'a:1']);
    s[2]!.setStatus({ healthy: false });
    // Running weights carry over, so the split evens out within one pick of exact (nginx does the same).
    const after = picks(rr, 100);
    expect(after).not.toContain('c:1');
    expect(Math.abs(after.filter((a) => a === 'a:1').length - 50)).toBeLessThanOrEqual(1);
    expect(rr.pick(new Set([s[0]!]))?.address).toBe('b:1');
    expect(rr.pick(new Set([s[0]!, s[1]!]))).toBeUndefined();
    s[2]!.setStatus({ adminState: 'drain', healthy: true });
    expect(picks(rr, 3)).not.toContain('c:1');
    s[2]!.setStatus({ adminState: 'maint' });
    expect(picks(rr, 3)).not.toContain('c:1');
  });

  it('spreads weights smoothly, like nginx (5,1,1 -> a a b a c a a)', () => {
    const rr = new WeightedRoundRobin(servers(['a:1', 5], ['b:1'], ['c:1']));
    expect(picks(rr, 7)).toEqual(['a:1', 'a:1', 'b:1', 'a:1', 'c:1', 'a:1', 'a:1']);
  });

  it('honours weights exactly over a cycle and follows a weight change at once', () => {
    const s = servers(['a:1', 3], ['b:1', 1]);
    const rr = new WeightedRoundRobin(s);
    const count = (list: string[], a: string): number => list.filter((x) => x === a).length;
    expect(count(picks(rr, 400), 'a:1')).toBe(300);
    s[1]!.setStatus({ weight: 3 });
    expect(count(picks(rr, 400), 'b:1')).toBe(200);
  });

  it('uses backup servers only when no primary server is left for the request', () => {
    const s = servers(['a:1'], ['b:1'], ['z:1', 1, true]);
    const rr = new WeightedRoundRobin(s);
    expect(picks(rr, 6)).not.toContain('z:1');
    expect(rr.pick(new Set([s[0]!, s[1]!]))?.address).toBe('z:1');
    s[0]!.setStatus({ healthy: false });
    s[1]!.setStatus({ adminState: 'maint' });
    expect(picks(rr, 3)).toEqual(['z:1', 'z:1', 'z:1']);
    s[0]!.setStatus({ healthy: true });
    expect(picks(rr, 3)).toEqual(['a:1', 'a:1', 'a:1']);
  });

  it('gives a server in slow start a share that grows from ~0 to its weight', () => {
    const s = [new UpstreamServer('a:1'), new UpstreamServer('b:1', { slowStartMs: 60_000 })];
    const rr = new WeightedRoundRobin(s);
    s[1]!.setStatus({ healthy: false });
    s[1]!.setStatus({ healthy: true });
    expect(s[1]!.ramping).toBe(true);
    expect(s[1]!.effectiveWeight).toBeLessThan(0.05);
    expect(picks(rr, 200).filter((a) => a === 'b:1').length).toBeLessThanOrEqual(10);
    s[1]!.dispose();
  });
});
