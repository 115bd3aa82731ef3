import { describe, expect, it } from 'vitest';
import type { Binding } from '../../contracts/binding.ts';
import { pairCells } from './compare-cells.ts';
import { compareMeasurements, healthIntervalMs } from './compare-measurements.ts';
import { cellResult, syntheticReport, targetReport } from './synthetic-report.ts';

const ACTIVE: Binding[] = [
  { what: 'pool api_pool', value: 'be_api (2 primaries)', from: 'traffic' },
  { what: 'health check of api_pool', value: 'GET /health every 5000 ms, fall 3, rise 2', from: 'config' },
];
const PASSIVE: Binding[] = [
  { what: 'pool api_pool', value: 'api (2 primaries)', from: 'config' },
  { what: 'health check of api_pool', value: 'passive only: 3 failures in 10000 ms', from: 'config' },
];

function failover(check: string, target: string, detectMs: number, rejoinMs: number, pool: string) {
  return cellResult(check, target, 'pass', { evidence: { pool, measurement: { detectMs, rejoinMs } } });
}

function drillReports(base: [number, number], next: [number, number]) {
  const cells = (d: number, r: number) => [failover('failover.detect-within-budget', 'haproxy', d, r, 'be_api'), failover('failover.rejoin-within-budget', 'haproxy', d, r, 'be_api')];
  const failoverSettings = { timeScale: 0.1, budgetsMs: {}, budgetSources: {}, probeRatePerSec: 200, probeSources: 1 };
  const b = syntheticReport('base', cells(...base), { failover: failoverSettings, targets: [targetReport('haproxy', ACTIVE)] });
  const n = syntheticReport('new', cells(...next), { failover: failoverSettings, targets: [targetReport('haproxy', ACTIVE)] });
  return compareMeasurements(pairCells(b.report.results, n.report.results), b.report);
}

describe('healthIntervalMs', () => {
  it("reads the pool's health-check interval (or passive window) from its bindings, times the time scale", () => {
    const scaled = { timeScale: 0.1, budgetsMs: {}, budgetSources: {}, probeRatePerSec: 200, probeSources: 1 };
    expect(healthIntervalMs(syntheticReport('d', [], { failover: scaled, targets: [targetReport('haproxy', ACTIVE)] }).report, 'haproxy', 'be_api')).toBe(500);
    expect(healthIntervalMs(syntheticReport('d', [], { targets: [targetReport('nginx', PASSIVE)] }).report, 'nginx', 'api')).toBe(10_000);
    expect(healthIntervalMs(syntheticReport('d', [], { targets: [targetReport('nginx', PASSIVE)] }).report, 'nginx', 'other')).toBeUndefined();
  });
});

describe('compareMeasurements', () => {
  it('lets detection and rejoin move by one health-check interval (500 ms here) without calling it a change', () => {
    const got = drillReports([48, 1132], [51, 887]);
    expect(got.map((m) => `${m.name} ${m.base} -> ${m.new} ${m.beyond}`)).toEqual(['detection 48 -> 51 false', 'rejoin 1132 -> 887 false']);
    expect(got[1]).toMatchObject({ rule: '±(20% = 226 ms + health-check interval 500 ms)' });
    expect([got[1]!.min, got[1]!.max].map(Math.round)).toEqual([406, 1858]);
  });

  it('flags detection that moved by more than 20% plus the interval', () => {
    const got = drillReports([48, 4000], [1300, 5400]);
    expect(got.map((m) => `${m.name} ${m.beyond}`)).toEqual(['detection true', 'rejoin true']);
    expect(got[1]).toMatchObject({ min: 2700, max: 5300 });
  });

  it("widens the range by what lbdrill's scaling lengthened the config's timings by (nginx's whole-second fail_timeout)", () => {
    const scaled = { timeScale: 0.1, budgetsMs: {}, budgetSources: {}, probeRatePerSec: 200, probeSources: 1 };
    const nginx = { ...targetReport('nginx', PASSIVE), mapped: [{ kind: 'timing' as const, from: 'fail_timeout=10s', to: 'fail_timeout=1s', lengthenedMs: 900 }] };
    // three runs of haproxy-role's bundled nginx config gave rejoin 1921, 1491 and 11 ms
    const b = syntheticReport('b', [failover('failover.rejoin-within-budget', 'nginx', 0, 1921, 'api')], { failover: scaled, targets: [nginx] });
    const n = syntheticReport('n', [failover('failover.rejoin-within-budget', 'nginx', 0, 11, 'api')], { failover: scaled, targets: [nginx] });
    const [m] = compareMeasurements(pairCells(b.report.results, n.report.results), b.report);
    expect(m).toMatchObject({ beyond: false, rule: "±(20% = 384 ms + health-check interval 1000 ms + 900 ms lbdrill's scaling added)" });
  });

  it('takes 20% alone when the pool has no health-check binding', () => {
    const b = syntheticReport('b', [failover('failover.rejoin-within-budget', 'x', 0, 1000, 'p')]);
    const n = syntheticReport('n', [failover('failover.rejoin-within-budget', 'x', 0, 1250, 'p')]);
    const [m] = compareMeasurements(pairCells(b.report.results, n.report.results), b.report);
    expect(m).toMatchObject({ min: 800, max: 1200, beyond: true, rule: '±(20% = 200 ms + no health-check interval bound)' });
  });

  it('compares each server share of balance.weights within ±0.03', () => {
    const rows = (a: number, c: number) => ({ rows: [{ backend: 'a', share: a }, { backend: 'c', share: c }] });
    const b = syntheticReport('b', [cellResult('balance.weights', 'apache', 'pass', { evidence: rows(0.375, 0.25) })]);
    const n = syntheticReport('n', [cellResult('balance.weights', 'apache', 'pass', { evidence: rows(0.35, 0.33) })]);
    const got = compareMeasurements(pairCells(b.report.results, n.report.results), b.report);
    expect(got.map((m) => `${m.name} ${m.beyond}`)).toEqual(['share of a false', 'share of c true']);
  });

  it('flags blob throughput only beyond a factor of 16 either way', () => {
    const cell = (check: string, mibPerSec: number) => cellResult(check, 'nginx', 'pass', { evidence: { mibPerSec } });
    const b = syntheticReport('b', [cell('stream.upload-large', 90), cell('stream.download-large', 20)]);
    const n = syntheticReport('n', [cell('stream.upload-large', 5), cell('stream.download-large', 243)]);
    const got = compareMeasurements(pairCells(b.report.results, n.report.results), b.report);
    expect(got.map((m) => `${m.check} ${m.beyond}`)).toEqual(['stream.upload-large true', 'stream.download-large false']);
  });

  it('compares only what both runs measured', () => {
    const b = syntheticReport('b', [cellResult('stream.upload-large', 'nginx', 'fail', { evidence: { status: 413 } })]);
    const n = syntheticReport('n', [cellResult('stream.upload-large', 'nginx', 'pass', { evidence: { mibPerSec: 80 } })]);
    expect(compareMeasurements(pairCells(b.report.results, n.report.results), b.report)).toEqual([]);
  });
});
