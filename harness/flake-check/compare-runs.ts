import type { CheckResult, CheckStatus, Severity } from '../checks/check.ts';
import type { RunReport } from '../report/run-report.ts';

/** A cell's status in one run; `absent` when that run has no result for the cell. */
export type CellStatus = CheckStatus | 'absent';

/** What one run said about a cell: the run's number (1-based) and the check's own words. */
export interface CellSample {
  run: number;
  status: CellStatus;
  expected: string;
  observed: string;
  evidence: Record<string, unknown>;
}

/** One cell (check × target) across every run so far. */
export interface FlakeCell {
  check: string;
  target: string;
  title: string;
  severity: Severity;
  /** the status of each run, in run order. */
  statuses: CellStatus[];
  /** how many runs ended in each status, e.g. { pass: 19, fail: 1 }. */
  tally: Partial<Record<CellStatus, number>>;
  /** true when not every run gave the same status. */
  flipped: boolean;
  /** the first run of each status seen: for a flip, a run that passed and one that failed, side by side. */
  samples: CellSample[];
}

/** The verdict of a flake check: every cell, the flipped ones first in `flips`. */
export interface FlakeComparison {
  profile: string;
  runs: number;
  cells: FlakeCell[];
  flips: FlakeCell[];
  /** 1 when any cell flipped, 0 otherwise (a stable failure is not a flake). */
  exitCode: 0 | 1;
}

const key = (r: Pick<CheckResult, 'check' | 'target'>): string => `${r.target}\u0000${r.check}`;

/** Compares the runs of one profile cell by cell: a cell flips when its status is not the same in every run. */
export function compareRuns(reports: readonly RunReport[]): FlakeComparison {
  const cells = new Map<string, FlakeCell>();
  // every cell of any run, in the order the runs first list them
  for (const report of reports) {
    for (const r of report.results) {
      if (!cells.has(key(r))) cells.set(key(r), { check: r.check, target: r.target, title: r.title, severity: r.severity, statuses: [], tally: {}, flipped: false, samples: [] });
    }
  }
  for (const [index, report] of reports.entries()) {
    const byKey = new Map(report.results.map((r) => [key(r), r]));
    for (const [k, cell] of cells) {
      const r = byKey.get(k);
      const status: CellStatus = r?.status ?? 'absent';
      cell.statuses.push(status);
      cell.tally[status] = (cell.tally[status] ?? 0) + 1;
      if (!cell.samples.some((s) => s.status === status)) {
        cell.samples.push({ run: index + 1, status, expected: r?.expected ?? '', observed: r?.observed ?? `run ${index + 1} has no result for this cell`, evidence: r?.evidence ?? {} });
      }
    }
  }
  const all = [...cells.values()];
  for (const cell of all) cell.flipped = cell.samples.length > 1;
  const flips = all.filter((c) => c.flipped);
  return { profile: reports[0]?.profile ?? '', runs: reports.length, cells: all, flips, exitCode: flips.length > 0 ? 1 : 0 };
}

/** "19 pass / 1 fail", most frequent first. */
export function formatTally(tally: FlakeCell['tally']): string {
  return Object.entries(tally)
    .sort(([, a], [, b]) => b - a)
    .map(([status, n]) => `${n} ${status}`)
    .join(' / ');
}
