import type { FailoverTimeline } from './failover-timeline-file.ts';

/** One target's drill, as its timeline file holds it. */
export interface TargetTimeline {
  target: string;
  timeline: FailoverTimeline;
}

/** A point of a chart: x in seconds since the fault. */
export interface Point {
  x: number;
  /** null: no request in that window (a gap in the line). */
  y: number | null;
}

/** Something that happened in a drill, marked as a vertical line at `x` s since the fault. */
export interface Marker {
  target: string;
  kind: 'restart' | 'lb-down' | 'lb-up' | 'detect' | 'rejoin';
  x: number;
  label: string;
}

/** Every target's drill binned on one axis: seconds since that target's fault. */
export interface FailoverSeries {
  binMs: number;
  /** the axis range in s, whole tenths, shared by every chart of the drill. */
  minX: number;
  maxX: number;
  /** requests per second each backend answered; `victim` is the backend that was stopped. */
  rps: Array<{ target: string; backend: string; victim: boolean; points: Point[] }>;
  /** client errors per second by kind (`reset`, `timeout`, `status 502`); only kinds that occurred. */
  errors: Array<{ target: string; kind: string; points: Point[] }>;
  /** the slowest request of each window, in ms. */
  latency: Array<{ target: string; points: Point[] }>;
  markers: Marker[];
}

/** About this many windows over the longest drill: 100 ms at a probe rate of 200 req/s is 20 requests a window. */
const TARGET_BINS = 200;
const MIN_BIN_MS = 100;

type Sample = FailoverTimeline['samples'][number];

function isClientError(s: Sample): boolean {
  return s.error !== null || (s.status !== null && s.status >= 500);
}

const seconds = (ms: number) => Math.round(ms) / 1000;

/**
 * Bins each target's probe samples relative to its own fault, so drills that started at
 * different moments line up: x = 0 is the moment the victim was stopped on every target.
 */
export function failoverSeries(drills: readonly TargetTimeline[]): FailoverSeries {
  const rel = drills.map(({ target, timeline }) => ({ target, timeline, times: timeline.samples.map((s) => s.sentAtMs - timeline.faultAtMs) }));
  const all = rel.flatMap((d) => d.times);
  const minMs = all.length ? Math.min(...all) : 0;
  const maxMs = all.length ? Math.max(...all) : 0;
  const binMs = Math.max(MIN_BIN_MS, Math.ceil((maxMs - minMs) / TARGET_BINS / 10) * 10);
  const series: FailoverSeries = { binMs, minX: Math.floor(minMs / 100) / 10, maxX: Math.ceil(maxMs / 100) / 10, rps: [], errors: [], latency: [], markers: [] };
  for (const { target, timeline, times } of rel) {
    if (times.length === 0) continue;
    // windows aligned on the fault, from this target's first sample to its last
    const first = Math.floor(Math.min(...times) / binMs);
    const last = Math.floor(Math.max(...times) / binMs);
    const perSecond = (pick: (s: Sample) => boolean): Point[] => {
      const counts = new Array<number>(last - first + 1).fill(0);
      timeline.samples.forEach((s, i) => {
        if (pick(s)) counts[Math.floor(times[i]! / binMs) - first]! += 1;
      });
      return counts.map((n, i) => ({ x: seconds((first + i) * binMs), y: Math.round((n * 1000) / binMs) }));
    };
    const backends = [...new Set(timeline.samples.flatMap((s) => (s.backend === null ? [] : [s.backend])))].sort();
    for (const backend of backends) series.rps.push({ target, backend, victim: backend === timeline.victim, points: perSecond((s) => s.backend === backend) });
    const kinds = [...new Set(timeline.samples.filter(isClientError).map((s) => s.error ?? `status ${s.status}`))].sort();
    for (const kind of kinds) series.errors.push({ target, kind, points: perSecond((s) => isClientError(s) && (s.error ?? `status ${s.status}`) === kind) });
    const slowest = new Array<number | null>(last - first + 1).fill(null);
    timeline.samples.forEach((s, i) => {
      const bin = Math.floor(times[i]! / binMs) - first;
      slowest[bin] = Math.max(slowest[bin] ?? 0, s.latencyMs);
    });
    series.latency.push({ target, points: slowest.map((y, i) => ({ x: seconds((first + i) * binMs), y: y === null ? null : Math.round(y * 100) / 100 })) });
    series.markers.push(...markers(target, timeline));
  }
  return series;
}

/** Restart, the LB's DOWN/UP reports, detection and rejoin of one target, in s since its fault. */
function markers(target: string, t: FailoverTimeline): Marker[] {
  const m = t.measurement;
  const out: Marker[] = [];
  const undo = t.undoAtMs === null ? null : t.undoAtMs - t.faultAtMs;
  if (m.lbDownMs !== null) out.push({ target, kind: 'lb-down', x: seconds(m.lbDownMs), label: `${target}: LB reports ${t.serverName} DOWN${m.detectSource === 'lb-event' ? ' (detection)' : ''}` });
  // detection from traffic only: with a DOWN report it is that report, marked once
  if (m.detectMs !== null && m.detectSource !== 'lb-event') out.push({ target, kind: 'detect', x: seconds(m.detectMs), label: `${target}: detected (traffic)` });
  if (undo !== null) {
    out.push({ target, kind: 'restart', x: seconds(undo), label: `${target}: restart ${t.victim}` });
    if (m.lbUpMs !== null) out.push({ target, kind: 'lb-up', x: seconds(undo + m.lbUpMs), label: `${target}: LB reports ${t.serverName} UP` });
    if (m.rejoinMs !== null) out.push({ target, kind: 'rejoin', x: seconds(undo + m.rejoinMs), label: `${target}: ${t.victim} serves again` });
  }
  return out;
}
