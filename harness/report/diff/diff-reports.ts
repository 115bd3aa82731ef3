import { LbdrillError } from '../../errors.ts';
import type { RunReport } from '../run-report.ts';
import { compareCells, pairCells, type CellChange, type CellChangeKind } from './compare-cells.ts';
import { compareMeasurements, TOLERANCES, type MeasurementDelta } from './compare-measurements.ts';
import type { LoadedReport } from './load-report.ts';

/** One side of the diff: where its report is and what it ran. */
export interface DiffSide {
  dir: string;
  startedAt: string;
  exitCode: number;
  mode: RunReport['mode'];
  seed: number;
  timeScale: number | null;
  targets: Array<{ name: string; status: string; config: string | null; binary: string | null }>;
}

/** The counts the headline gives. */
export interface DiffCounts {
  mustRegressions: number;
  shouldRegressions: number;
  fixes: number;
  unsupported: number;
  added: number;
  removed: number;
  changed: number;
  measurementsBeyond: number;
  measurementsWithin: number;
  /** cells in both runs with the same status. */
  unchangedCells: number;
}

/** What a config change changed: diff.json. */
export interface ReportDiff {
  tool: 'lbdrill diff';
  profile: string;
  base: DiffSide;
  new: DiffSide;
  /** settings that differ between the runs and make measurements less comparable (mode, seed, time scale, proxy version). */
  notes: string[];
  counts: DiffCounts;
  /** the cells whose status changed, regressions first. */
  cells: CellChange[];
  /** every measurement both runs have, within tolerance or not. */
  measurements: MeasurementDelta[];
  tolerances: typeof TOLERANCES;
  /** 1 when a must-check regressed (pass → fail or error), else 0. */
  exitCode: 0 | 1;
}

const ORDER: readonly CellChangeKind[] = ['regression', 'fix', 'unsupported', 'added', 'removed', 'changed'];

function side(loaded: LoadedReport): DiffSide {
  const r = loaded.report;
  return {
    dir: loaded.dir,
    startedAt: r.startedAt,
    exitCode: r.exitCode,
    mode: r.mode,
    seed: r.seed,
    timeScale: r.failover?.timeScale ?? null,
    targets: r.targets.map((t) => ({ name: t.name, status: t.status, config: t.config, binary: t.binary })),
  };
}

function notesFor(base: DiffSide, next: DiffSide): string[] {
  const notes: string[] = [];
  const differs = (what: string, a: unknown, b: unknown): void => {
    if (a !== b) notes.push(`${what} differs: ${String(a)} (base) vs ${String(b)} (new)`);
  };
  differs('mode', base.mode, next.mode);
  differs('seed', base.seed, next.seed);
  differs('time scale', base.timeScale, next.timeScale);
  for (const t of next.targets) {
    const b = base.targets.find((x) => x.name === t.name);
    if (b) differs(`${t.name} binary`, b.binary, t.binary);
  }
  return notes;
}

/** Compares two runs of one profile cell by cell and measurement by measurement. */
export function diffReports(base: LoadedReport, next: LoadedReport): ReportDiff {
  if (base.report.profile !== next.report.profile) {
    throw new LbdrillError('LBDRILL_ERR_USAGE', `${base.dir} is a run of profile ${base.report.profile}, ${next.dir} of ${next.report.profile}: diff compares two runs of one profile`);
  }
  const pairs = pairCells(base.report.results, next.report.results);
  const cells = compareCells(pairs).sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind) || (a.severity === b.severity ? 0 : a.severity === 'must' ? -1 : 1));
  const measurements = compareMeasurements(pairs, base.report);
  const count = (kind: CellChangeKind): number => cells.filter((c) => c.kind === kind).length;
  const mustRegressions = cells.filter((c) => c.kind === 'regression' && c.severity === 'must').length;
  const beyond = measurements.filter((m) => m.beyond).length;
  const b = side(base);
  const n = side(next);
  return {
    tool: 'lbdrill diff',
    profile: next.report.profile,
    base: b,
    new: n,
    notes: notesFor(b, n),
    counts: {
      mustRegressions,
      shouldRegressions: count('regression') - mustRegressions,
      fixes: count('fix'),
      unsupported: count('unsupported'),
      added: count('added'),
      removed: count('removed'),
      changed: count('changed'),
      measurementsBeyond: beyond,
      measurementsWithin: measurements.length - beyond,
      unchangedCells: pairs.filter((p) => p.base && p.new && p.base.status === p.new.status).length,
    },
    cells,
    measurements,
    tolerances: TOLERANCES,
    exitCode: mustRegressions > 0 ? 1 : 0,
  };
}

/** "1 must regression, 2 fixes, 1 measurement beyond tolerance" (zero counts left out), or "no change". */
export function headline(diff: ReportDiff): string {
  const c = diff.counts;
  const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;
  const parts = [
    c.mustRegressions > 0 ? plural(c.mustRegressions, 'must regression', 'must regressions') : '',
    c.shouldRegressions > 0 ? plural(c.shouldRegressions, 'should regression', 'should regressions') : '',
    c.fixes > 0 ? plural(c.fixes, 'fix', 'fixes') : '',
    c.unsupported > 0 ? plural(c.unsupported, 'newly unsupported cell', 'newly unsupported cells') : '',
    c.added > 0 ? plural(c.added, 'cell added', 'cells added') : '',
    c.removed > 0 ? plural(c.removed, 'cell removed', 'cells removed') : '',
    c.changed > 0 ? plural(c.changed, 'other status change', 'other status changes') : '',
    c.measurementsBeyond > 0 ? plural(c.measurementsBeyond, 'measurement beyond tolerance', 'measurements beyond tolerance') : '',
  ].filter(Boolean);
  const rest = `${plural(c.unchangedCells, 'cell', 'cells')} unchanged, ${plural(c.measurementsWithin, 'measurement', 'measurements')} within tolerance`;
  return parts.length === 0 ? `no change (${rest})` : `${parts.join(', ')} (${rest})`;
}
