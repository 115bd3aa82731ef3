import type { LbStateEvent } from '../runtime/lb-state-event.ts';
import { isClientError, type ProbeSample } from './probe-stream.ts';

/** Client errors by kind: `reset`, `timeout`, `502`, ... */
export type ErrorCounts = Record<string, number>;

/** What one fault on one backend did to the probe stream, in ms relative to the fault (or its undo). */
export interface FailoverMeasurement {
  victim: string;
  /** one probe interval: no timing below is finer than this. */
  resolutionMs: number;
  requests: number;
  clientErrors: number;
  errorsByKind: ErrorCounts;
  firstErrorMs: number | null;
  lastErrorMs: number | null;
  /**
   * Time until the victim got no more traffic. `lb-event`: the LB's own DOWN report;
   * `traffic`: the last probe the victim answered or that failed, whichever is later.
   */
  detectMs: number | null;
  detectSource: 'lb-event' | 'traffic' | null;
  /** the LB's own DOWN report, when it has a runtime view. */
  lbDownMs: number | null;
  /**
   * Errors among probes sent after detection (plus one resolution step). With `traffic`
   * detection (no LB report) detection is taken to have happened by the detect budget at the
   * latest: the last error would otherwise define detection, and no error could come after it.
   */
  errorsAfterDetect: number;
  /** after the undo: first probe the victim answered again. */
  rejoinMs: number | null;
  /** after the undo: the LB's own UP report. */
  lbUpMs: number | null;
}

function errorKey(s: ProbeSample): string {
  return s.error ?? String(s.status);
}

/**
 * Derives detection and recovery from a probe stream around one fault. `faultAtMs` and
 * `undoAtMs` are epoch ms on the same clock as the samples; LB events are optional.
 */
export function measureFailover(options: {
  samples: readonly ProbeSample[];
  victim: string;
  pool: string;
  /** the victim's name in the LB's config, as its runtime events name it. */
  serverName: string;
  faultAtMs: number;
  undoAtMs?: number;
  resolutionMs: number;
  lbEvents?: readonly LbStateEvent[];
  /** the detect budget: without an LB report, errors later than this after the fault count as after detection. */
  detectBudgetMs?: number;
}): FailoverMeasurement {
  const { samples, victim, faultAtMs, undoAtMs, resolutionMs } = options;
  const during = samples.filter((s) => s.sentAtMs >= faultAtMs && (undoAtMs === undefined || s.sentAtMs < undoAtMs));
  const errors = during.filter(isClientError);
  const errorsByKind: ErrorCounts = {};
  for (const e of errors) errorsByKind[errorKey(e)] = (errorsByKind[errorKey(e)] ?? 0) + 1;
  const rel = (t: number | undefined) => (t === undefined ? null : Math.round(t - faultAtMs));

  const ofVictim = (e: LbStateEvent) => e.pool === options.pool && e.server === options.serverName;
  const down = options.lbEvents?.find((e) => ofVictim(e) && e.atMs >= faultAtMs && e.state !== 'up');
  const touched = during.filter((s) => s.backend === victim || isClientError(s)).at(-1);
  const detectAt = down?.atMs ?? (touched ? touched.sentAtMs + resolutionMs : faultAtMs);
  const detectSource = down ? 'lb-event' : 'traffic';
  const judgedFrom = down || options.detectBudgetMs === undefined ? detectAt : Math.min(detectAt, faultAtMs + options.detectBudgetMs);
  const errorsAfterDetect = during.filter((s) => s.sentAtMs > judgedFrom + resolutionMs && isClientError(s)).length;

  let rejoinMs: number | null = null;
  let lbUpMs: number | null = null;
  if (undoAtMs !== undefined) {
    const back = samples.find((s) => s.sentAtMs >= undoAtMs && s.backend === victim);
    rejoinMs = back ? Math.round(back.sentAtMs - undoAtMs) : null;
    const up = options.lbEvents?.find((e) => ofVictim(e) && e.atMs >= undoAtMs && e.state === 'up');
    lbUpMs = up ? Math.round(up.atMs - undoAtMs) : null;
  }
  return {
    victim,
    resolutionMs,
    requests: during.length,
    clientErrors: errors.length,
    errorsByKind,
    firstErrorMs: rel(errors[0]?.sentAtMs),
    lastErrorMs: rel(errors.at(-1)?.sentAtMs),
    detectMs: rel(detectAt),
    detectSource,
    lbDownMs: rel(down?.atMs),
    errorsAfterDetect,
    rejoinMs,
    lbUpMs,
  };
}

/** Requests per backend in consecutive windows of `windowMs` from `fromMs` to `toMs` (the last window may be partial and is dropped). */
export function sharesByWindow(samples: readonly ProbeSample[], fromMs: number, toMs: number, windowMs: number): Array<{ startMs: number; total: number; byBackend: Record<string, number> }> {
  const windows: Array<{ startMs: number; total: number; byBackend: Record<string, number> }> = [];
  for (let start = fromMs; start + windowMs <= toMs; start += windowMs) windows.push({ startMs: Math.round(start - fromMs), total: 0, byBackend: {} });
  for (const s of samples) {
    const i = Math.floor((s.sentAtMs - fromMs) / windowMs);
    const w = windows[i];
    if (!w || s.sentAtMs < fromMs) continue;
    w.total++;
    const key = s.backend ?? (s.error ?? `status ${s.status}`);
    w.byBackend[key] = (w.byBackend[key] ?? 0) + 1;
  }
  return windows;
}

/** CSV of the probe samples, one row per request, for plotting (times in ms from `originMs`). */
export function samplesCsv(samples: readonly ProbeSample[], originMs: number): string {
  const rows = ['seq,sent_ms,latency_ms,backend,status,error'];
  for (const s of samples) rows.push(`${s.seq},${(s.sentAtMs - originMs).toFixed(1)},${s.latencyMs.toFixed(2)},${s.backend ?? ''},${s.status ?? ''},${s.error ?? ''}`);
  return `${rows.join('\n')}\n`;
}
