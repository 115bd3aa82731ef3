import type { CheckResult, CheckStatus, Severity } from '../../checks/check.ts';

/**
 * What happened to one cell (check × target) between two runs:
 * `regression` pass → fail/error; `fix` fail/error → pass; `unsupported` newly unsupported;
 * `added`/`removed` a cell only one run has; `changed` any other status change (error → fail, skipped → pass, ...).
 */
export type CellChangeKind = 'regression' | 'fix' | 'unsupported' | 'added' | 'removed' | 'changed';

/** One cell whose status differs between the base run and the new one. */
export interface CellChange {
  kind: CellChangeKind;
  check: string;
  target: string;
  title: string;
  /** the new run's severity (the base run's for a removed cell). */
  severity: Severity;
  base: CheckStatus | null;
  new: CheckStatus | null;
  /** what the new run observed (the base run's for a removed cell). */
  observed: string;
  /** what the base run observed, when it had the cell. */
  baseObserved: string | null;
}

/** Two results of one cell, either missing. */
export interface CellPair {
  check: string;
  target: string;
  base: CheckResult | undefined;
  new: CheckResult | undefined;
}

const FAILED: ReadonlySet<CheckStatus> = new Set(['fail', 'error']);

/** The kind of a status change, or undefined when the status is the same. */
export function classifyChange(base: CheckStatus | undefined, next: CheckStatus | undefined): CellChangeKind | undefined {
  if (base === next) return undefined;
  if (base === undefined) return 'added';
  if (next === undefined) return 'removed';
  if (base === 'pass' && FAILED.has(next)) return 'regression';
  if (FAILED.has(base) && next === 'pass') return 'fix';
  if (next === 'unsupported') return 'unsupported';
  return 'changed';
}

/** Every cell of either run, paired by check and target, in the new run's order, then the cells only the base run has. */
export function pairCells(base: readonly CheckResult[], next: readonly CheckResult[]): CellPair[] {
  const key = (r: CheckResult): string => `${r.target}\u0000${r.check}`;
  const baseByKey = new Map(base.map((r) => [key(r), r]));
  const pairs: CellPair[] = next.map((r) => ({ check: r.check, target: r.target, base: baseByKey.get(key(r)), new: r }));
  const seen = new Set(next.map(key));
  for (const r of base) if (!seen.has(key(r))) pairs.push({ check: r.check, target: r.target, base: r, new: undefined });
  return pairs;
}

/** The cells whose status changed, each with its kind. */
export function compareCells(pairs: readonly CellPair[]): CellChange[] {
  return pairs.flatMap((p) => {
    const kind = classifyChange(p.base?.status, p.new?.status);
    const shown = p.new ?? p.base;
    if (kind === undefined || !shown) return [];
    return [
      {
        kind,
        check: p.check,
        target: p.target,
        title: shown.title,
        severity: shown.severity,
        base: p.base?.status ?? null,
        new: p.new?.status ?? null,
        observed: shown.observed,
        baseObserved: p.base?.observed ?? null,
      },
    ];
  });
}
