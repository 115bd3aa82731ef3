import { describe, expect, it } from 'vitest';
import { classifyChange, compareCells, pairCells } from './compare-cells.ts';
import { cellResult } from './synthetic-report.ts';

describe('classifyChange', () => {
  it.each([
    ['pass', 'fail', 'regression'],
    ['pass', 'error', 'regression'],
    ['fail', 'pass', 'fix'],
    ['error', 'pass', 'fix'],
    ['pass', 'unsupported', 'unsupported'],
    ['fail', 'unsupported', 'unsupported'],
    [undefined, 'pass', 'added'],
    ['fail', undefined, 'removed'],
    ['fail', 'error', 'changed'],
    ['unsupported', 'pass', 'changed'],
    ['skipped', 'fail', 'changed'],
  ] as const)('%s -> %s is %s', (base, next, kind) => {
    expect(classifyChange(base, next)).toBe(kind);
  });

  it('is no change when the status is the same, failing or not', () => {
    expect(classifyChange('fail', 'fail')).toBeUndefined();
    expect(classifyChange('pass', 'pass')).toBeUndefined();
  });
});

describe('compareCells', () => {
  it('pairs cells by check and target, keeps the new order, then lists the cells only the base run had', () => {
    const base = [cellResult('a', 'nginx', 'pass'), cellResult('b', 'nginx', 'pass'), cellResult('a', 'haproxy', 'fail'), cellResult('gone', 'nginx', 'pass')];
    const next = [cellResult('a', 'haproxy', 'pass'), cellResult('a', 'nginx', 'fail', { observed: 'now 404' }), cellResult('b', 'nginx', 'pass'), cellResult('new', 'nginx', 'fail')];
    const pairs = pairCells(base, next);
    expect(pairs.map((p) => `${p.target} ${p.check} ${p.base?.status ?? '-'} ${p.new?.status ?? '-'}`)).toEqual(['haproxy a fail pass', 'nginx a pass fail', 'nginx b pass pass', 'nginx new - fail', 'nginx gone pass -']);
    const changes = compareCells(pairs);
    expect(changes.map((c) => `${c.kind} ${c.target} ${c.check}`)).toEqual(['fix haproxy a', 'regression nginx a', 'added nginx new', 'removed nginx gone']);
    expect(changes[1]).toMatchObject({ base: 'pass', new: 'fail', observed: 'now 404', baseObserved: 'pass observed', severity: 'must' });
    expect(changes[3]).toMatchObject({ base: 'pass', new: null, observed: 'pass observed' });
  });
});
