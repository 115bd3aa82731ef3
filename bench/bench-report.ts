import Table from 'cli-table3';
import pc from 'picocolors';
import type { BlobTransferResult } from './load/blob-transfer.ts';
import type { SmallRequestResult } from './load/small-requests.ts';

/** What the bench measures: `wrk` is the small-request cell driven by wrk instead of the built-in generator. */
export const BENCH_METRICS = ['small', 'wrk', 'download', 'upload'] as const;
export type BenchMetric = (typeof BENCH_METRICS)[number];

/** The baseline row: the client talking to the backends with no LB in between. */
export const DIRECT = 'direct';

/** CPU used during a cell's measured window, in % of one core (100 = one core busy all the time). */
export interface CpuShare {
  /** the LB's process group (master and workers); null for the direct baseline. */
  lb: number | null;
  backends: number;
  /** the load generator (this process). */
  client: number;
}

/** One measurement: one target, one metric, one round. */
export interface BenchCell {
  round: number;
  target: string;
  metric: BenchMetric;
  small?: SmallRequestResult;
  blob?: BlobTransferResult;
  cpu?: CpuShare;
  /** the cell could not be measured (the LB crashed, a stream failed). */
  error?: string;
}

/** Medians over the rounds of one target and metric. */
export interface MetricSummary {
  /** req/s for `small` and `wrk`, GiB/s for the blobs; null when no round succeeded. */
  value: number | null;
  /** small requests (either generator) only: median p50/p99 latency, ms. */
  p50Ms?: number;
  p99Ms?: number;
  /** failed requests (small) or failed streams (blobs), all rounds together. */
  errors: number;
  rounds: number;
  /** every round's value, in round order. */
  values: Array<number | null>;
  cpu: CpuShare | null;
}

/** A target from the standard, judged on this run. */
export interface StandardVerdict {
  id: 'small.req-per-sec' | 'download.gib-per-sec' | 'upload.gib-per-sec';
  title: string;
  reference: number | null;
  nginx: number | null;
  /** reference / nginx. */
  ratio: number | null;
  /** null: not measurable in this run (reference or nginx missing or failed). */
  met: boolean | null;
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Metrics measured in req/s (small requests, by either generator). */
export function isRequestMetric(metric: BenchMetric): boolean {
  return metric === 'small' || metric === 'wrk';
}

function valueOf(cell: BenchCell): number | null {
  if (cell.error !== undefined) return null;
  if (isRequestMetric(cell.metric)) return cell.small?.reqPerSec ?? null;
  return cell.blob?.gibPerSec ?? null;
}

/** Per target and metric: the median of the rounds. */
export function summarize(cells: readonly BenchCell[], targets: readonly string[], metrics: readonly BenchMetric[]): Record<string, Partial<Record<BenchMetric, MetricSummary>>> {
  const out: Record<string, Partial<Record<BenchMetric, MetricSummary>>> = {};
  for (const target of targets) {
    out[target] = {};
    for (const metric of metrics) {
      const mine = cells.filter((c) => c.target === target && c.metric === metric).sort((a, b) => a.round - b.round);
      if (mine.length === 0) continue;
      const ok = mine.filter((c) => valueOf(c) !== null);
      const cpus = ok.flatMap((c) => (c.cpu ? [c.cpu] : []));
      const errors = mine.reduce((n, c) => n + (c.small?.errors ?? c.blob?.errors.length ?? (c.error !== undefined ? 1 : 0)), 0);
      out[target][metric] = {
        value: median(ok.map((c) => valueOf(c)!)),
        ...(isRequestMetric(metric) && ok.length > 0 ? { p50Ms: median(ok.map((c) => c.small!.latencyMs.p50))!, p99Ms: median(ok.map((c) => c.small!.latencyMs.p99))! } : {}),
        errors,
        rounds: mine.length,
        values: mine.map(valueOf),
        cpu:
          cpus.length === 0
            ? null
            : {
                lb: cpus.every((c) => c.lb !== null) ? median(cpus.map((c) => c.lb!)) : null,
                backends: median(cpus.map((c) => c.backends))!,
                client: median(cpus.map((c) => c.client))!,
              },
      };
    }
  }
  return out;
}

/** The standard: reference req/s ≥ 0.8 × nginx; reference blob GiB/s > nginx, both ways. */
export function judgeStandards(summary: ReturnType<typeof summarize>, metrics: readonly BenchMetric[]): StandardVerdict[] {
  const rules: Array<{ metric: BenchMetric; id: StandardVerdict['id']; title: string; pass: (ratio: number) => boolean }> = [
    { metric: 'small', id: 'small.req-per-sec', title: 'small requests: reference req/s ≥ 0.8 × nginx', pass: (r) => r >= 0.8 },
    { metric: 'download', id: 'download.gib-per-sec', title: 'blob download: reference GiB/s > nginx', pass: (r) => r > 1 },
    { metric: 'upload', id: 'upload.gib-per-sec', title: 'blob upload: reference GiB/s > nginx', pass: (r) => r > 1 },
  ];
  return rules
    .filter((r) => metrics.includes(r.metric))
    .map((r) => {
      const reference = summary.reference?.[r.metric]?.value ?? null;
      const nginx = summary.nginx?.[r.metric]?.value ?? null;
      const ratio = reference !== null && nginx !== null && nginx > 0 ? reference / nginx : null;
      return { id: r.id, title: r.title, reference, nginx, ratio, met: ratio === null ? null : r.pass(ratio) };
    });
}

/** The built-in generator against wrk on one target: same request, connections and window. */
export interface GeneratorVerdict {
  target: string;
  builtin: number | null;
  wrk: number | null;
  /** median over rounds of builtin ÷ wrk. */
  ratio: number | null;
  /** ratio ≥ GENERATOR_MIN_RATIO; null when either was not measured. */
  met: boolean | null;
}

/** The built-in load generator must reach this share of wrk's req/s against the same target (issue 13). */
export const GENERATOR_MIN_RATIO = 0.9;

/**
 * Per target measured by both generators: the median over rounds of built-in ÷ wrk, each
 * round's two cells having run back to back, so drift on a shared box cancels out.
 */
export function judgeGenerator(summary: ReturnType<typeof summarize>, targets: readonly string[]): GeneratorVerdict[] {
  return targets.flatMap((target) => {
    const builtin = summary[target]?.small;
    const wrk = summary[target]?.wrk;
    if (!builtin || !wrk) return [];
    const ratios = builtin.values.flatMap((b, i) => {
      const w = wrk.values[i];
      return b !== null && w !== null && w !== undefined && w > 0 ? [b / w] : [];
    });
    const ratio = median(ratios);
    return [{ target, builtin: builtin.value, wrk: wrk.value, ratio, met: ratio === null ? null : ratio >= GENERATOR_MIN_RATIO }];
  });
}

/** cli-table3 colours its borders and heads itself: only where picocolors would colour too. */
const TABLE_STYLE = pc.isColorSupported ? { head: ['bold'], border: ['grey'] } : { head: [], border: [] };

function fmtRatio(value: number | null | undefined, base: number | null | undefined): string {
  if (value === null || value === undefined || base === null || base === undefined || base <= 0) return '–';
  return `${(value / base).toFixed(2)}×`;
}

function fmtCpu(value: number | null | undefined): string {
  return value === null || value === undefined ? '–' : `${Math.round(value)}%`;
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** The human tables: one per metric, absolute numbers and ratios, then the standard's verdicts. */
export function renderTables(options: {
  summary: ReturnType<typeof summarize>;
  standards: readonly StandardVerdict[];
  generator: readonly GeneratorVerdict[];
  targets: readonly string[];
  metrics: readonly BenchMetric[];
  captions: Record<BenchMetric, string>;
}): string {
  const { summary, targets } = options;
  const parts: string[] = [];
  const ratioHeads = ['× nginx', '× haproxy'];
  for (const metric of options.metrics) {
    const small = isRequestMetric(metric);
    const table = new Table({
      head: ['target', small ? 'req/s' : 'GiB/s', ...(small ? ['p50 ms', 'p99 ms'] : []), 'errors', ...ratioHeads, 'CPU LB', 'CPU backends', 'CPU client'],
      style: TABLE_STYLE,
      colAligns: ['left', 'right', ...(small ? (['right', 'right'] as const) : []), 'right', 'right', 'right', 'right', 'right', 'right'],
    });
    for (const target of targets) {
      const s = summary[target]?.[metric];
      if (!s) continue;
      const value = s.value === null ? pc.red('failed') : small ? fmtInt(s.value) : s.value.toFixed(2);
      table.push([
        target === DIRECT ? `${DIRECT} (no LB)` : target,
        value,
        ...(small ? [s.p50Ms?.toFixed(2) ?? '–', s.p99Ms?.toFixed(2) ?? '–'] : []),
        s.errors === 0 ? '0' : pc.yellow(String(s.errors)),
        fmtRatio(s.value, summary.nginx?.[metric]?.value),
        fmtRatio(s.value, summary.haproxy?.[metric]?.value),
        fmtCpu(s.cpu?.lb),
        fmtCpu(s.cpu?.backends),
        fmtCpu(s.cpu?.client),
      ]);
    }
    parts.push(`${pc.bold(options.captions[metric])}\n${table.toString()}`);
  }
  if (options.standards.length > 0) {
    const table = new Table({ head: ['standard', 'reference', 'nginx', 'ratio', 'verdict'], style: TABLE_STYLE, colAligns: ['left', 'right', 'right', 'right', 'left'] });
    for (const v of options.standards) {
      const num = (x: number | null): string => (x === null ? '–' : v.id === 'small.req-per-sec' ? fmtInt(x) : x.toFixed(2));
      const verdict = v.met === null ? pc.yellow('not measured') : v.met ? pc.green('met') : pc.red('NOT met');
      table.push([v.title, num(v.reference), num(v.nginx), v.ratio === null ? '–' : `${v.ratio.toFixed(2)}×`, verdict]);
    }
    parts.push(`${pc.bold('The standard (bench/README.md)')}\n${table.toString()}`);
  }
  if (options.generator.length > 0) {
    const table = new Table({ head: ['target', 'built-in req/s', 'wrk req/s', 'built-in ÷ wrk', `verdict (≥ ${GENERATOR_MIN_RATIO}×)`], style: TABLE_STYLE, colAligns: ['left', 'right', 'right', 'right', 'left'] });
    for (const v of options.generator) {
      const verdict = v.met === null ? pc.yellow('not measured') : v.met ? pc.green('met') : pc.red('NOT met');
      table.push([v.target, v.builtin === null ? '–' : fmtInt(v.builtin), v.wrk === null ? '–' : fmtInt(v.wrk), v.ratio === null ? '–' : `${v.ratio.toFixed(2)}×`, verdict]);
    }
    parts.push(`${pc.bold('Load generator: the built-in one against wrk, same target, connections and window')}\n${table.toString()}`);
  }
  return parts.join('\n\n');
}
