import type { CheckResult } from '../../checks/check.ts';
import { formatMs } from '../../duration.ts';
import type { ChartSet, ChartSpec } from './chart-set.ts';
import { html, type SafeHtml } from './safe-html.ts';

/** Reads a number at `path` of a result's evidence; undefined when the check did not get that far. */
function num(r: CheckResult, ...path: string[]): number | undefined {
  let v: unknown = r.evidence;
  for (const key of path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function ofCheck(results: readonly CheckResult[], check: string, has: (r: CheckResult) => boolean): CheckResult[] {
  return results.filter((r) => r.check === check && has(r));
}

function bars(labels: string[], datasets: Array<{ label: string; data: Array<number | null>; color: string }>, yTitle: string): ChartSpec {
  return {
    type: 'bar',
    data: { labels, datasets: datasets.map((d) => ({ label: d.label, data: d.data, backgroundColor: d.color })) },
    options: { scales: { y: { beginAtZero: true, title: { display: true, text: yTitle } } }, plugins: { legend: { position: 'bottom' } } },
  };
}

/** sticky.ws-reconnect-after-failover: how long cut WebSocket clients took to be back, per target (p50 / p95 / max of the fleet's histogram). */
function wsReconnect(results: readonly CheckResult[], charts: ChartSet): SafeHtml {
  const rs = ofCheck(results, 'sticky.ws-reconnect-after-failover', (r) => num(r, 'reconnectMs', 'p50Ms') !== undefined);
  if (rs.length === 0) return html``;
  const pick = (key: string) => rs.map((r) => num(r, 'reconnectMs', key) ?? null);
  return html`<section id="ws-reconnect"><h3>WebSocket reconnects after a failover</h3>
<table class="numbers"><thead><tr><th>target</th><th>clients cut</th><th>reconnected</th><th>p50</th><th>p95</th><th>max</th><th>messages lost</th></tr></thead><tbody>${rs.map(
    (r) => html`<tr><th scope="row">${r.target}</th><td>${num(r, 'cut') ?? '–'}</td><td>${num(r, 'reconnectMs', 'count') ?? '–'}</td><td>${formatMs(num(r, 'reconnectMs', 'p50Ms')!)}</td><td>${formatMs(num(r, 'reconnectMs', 'p95Ms') ?? 0)}</td><td>${formatMs(num(r, 'reconnectMs', 'maxMs') ?? 0)}</td><td>${num(r, 'messages', 'lost') ?? '–'}</td></tr>`,
  )}</tbody></table>
${charts.figure('ws-reconnect', 'Reconnect time of the cut clients, per target', bars(rs.map((r) => r.target), [
    { label: 'p50', data: pick('p50Ms'), color: '#7fb3d5' },
    { label: 'p95', data: pick('p95Ms'), color: '#2874a6' },
    { label: 'max', data: pick('maxMs'), color: '#1b2631' },
  ], 'ms'))}</section>`;
}

/** hash.uri-consistent: the share of keys that moved when a node left, against the ideal 1/n of consistent hashing. */
function hashDisplacement(results: readonly CheckResult[], charts: ChartSet): SafeHtml {
  const rs = ofCheck(results, 'hash.uri-consistent', (r) => num(r, 'movedShare') !== undefined);
  if (rs.length === 0) return html``;
  const pct = (r: CheckResult, key: string) => Math.round((num(r, key) ?? 0) * 1000) / 10;
  return html`<section id="hash-displacement"><h3>Hash displacement when a node leaves</h3>
<table class="numbers"><thead><tr><th>target</th><th>nodes</th><th>node that left (its keys)</th><th>keys moved</th><th>ideal 1/n</th><th>keys of surviving nodes moved</th></tr></thead><tbody>${rs.map(
    (r) => html`<tr><th scope="row">${r.target}</th><td>${num(r, 'nodes') ?? '–'}</td><td>${String(r.evidence['victim'] ?? '–')} (${num(r, 'victimKeys') ?? '–'})</td><td>${pct(r, 'movedShare')}%</td><td>${pct(r, 'idealShare')}%</td><td>${num(r, 'survivorsMoved') ?? '–'}</td></tr>`,
  )}</tbody></table>
${charts.figure('hash-displacement', 'Share of keys that moved, against consistent hashing (1/n)', bars(rs.map((r) => r.target), [
    { label: 'keys moved', data: rs.map((r) => pct(r, 'movedShare')), color: '#c0392b' },
    { label: 'ideal (1/n)', data: rs.map((r) => pct(r, 'idealShare')), color: '#95a5a6' },
  ], '% of keys'))}</section>`;
}

interface WeightRow {
  backend: string;
  /** the server's address as the config writes it: the same server on every target, whatever each names it. */
  address?: string;
  want: number;
  share: number;
}

/** balance.weights: each server's share of the requests per target, beside the share its weight asks for. */
function weightShares(results: readonly CheckResult[], charts: ChartSet, colors: Record<string, string>): SafeHtml {
  const rs = ofCheck(results, 'balance.weights', (r) => Array.isArray(r.evidence['rows']));
  if (rs.length === 0) return html``;
  const rowsOf = (r: CheckResult) => r.evidence['rows'] as WeightRow[];
  const key = (w: WeightRow) => w.address ?? w.backend;
  const servers = [...new Set(rs.flatMap((r) => rowsOf(r).map(key)))];
  const row = (r: CheckResult, server: string) => rowsOf(r).find((w) => key(w) === server);
  const pct = (r: CheckResult, server: string, field: 'want' | 'share') => {
    const w = row(r, server);
    return w ? Math.round(w[field] * 1000) / 10 : null;
  };
  // one contract bar per distinct contract: the same weights on every target give one
  const contracts = [...new Map(rs.map((r) => [JSON.stringify(servers.map((s) => pct(r, s, 'want'))), r])).values()];
  return html`<section id="weight-shares"><h3>Weight shares against the contract</h3>
<table class="numbers"><thead><tr><th>target</th>${servers.map((s) => html`<th>${s}</th>`)}</tr></thead><tbody>${rs.map(
    (r) => html`<tr><th scope="row">${r.target}</th>${servers.map((s) => {
      const w = row(r, s);
      return w ? html`<td>${pct(r, s, 'share')}% <span class="muted">(want ${pct(r, s, 'want')}%) ${w.backend}</span></td>` : html`<td>–</td>`;
    })}</tr>`,
  )}</tbody></table>
${charts.figure('weight-shares', "Each server's share of the requests (servers by their address in the config)", bars(servers, [
    ...contracts.map((r) => ({ label: contracts.length === 1 ? 'contract (weights)' : `contract (${r.target})`, data: servers.map((s) => pct(r, s, 'want')), color: '#bdc3c7' })),
    ...rs.map((r) => ({ label: r.target, data: servers.map((s) => pct(r, s, 'share')), color: colors[r.target]! })),
  ], '% of requests'))}</section>`;
}

/** stream.upload-large / stream.download-large: MiB/s of the large blob through each target. */
function blobThroughput(results: readonly CheckResult[], charts: ChartSet): SafeHtml {
  const up = ofCheck(results, 'stream.upload-large', (r) => num(r, 'mibPerSec') !== undefined);
  const down = ofCheck(results, 'stream.download-large', (r) => num(r, 'mibPerSec') !== undefined);
  if (up.length + down.length === 0) return html``;
  const targets = [...new Set([...up, ...down].map((r) => r.target))];
  const rate = (rs: CheckResult[], t: string) => {
    const r = rs.find((x) => x.target === t);
    return r ? num(r, 'mibPerSec')! : null;
  };
  const cell = (rs: CheckResult[], t: string) => {
    const r = rs.find((x) => x.target === t);
    return r ? html`${num(r, 'mibPerSec')} MiB/s <span class="muted">(${Math.round((num(r, 'sizeBytes') ?? 0) / 1048576)} MiB in ${num(r, 'seconds')} s, ${r.status})</span>` : '–';
  };
  return html`<section id="blob-throughput"><h3>Blob throughput</h3>
<table class="numbers"><thead><tr><th>target</th><th>upload</th><th>download</th></tr></thead><tbody>${targets.map((t) => html`<tr><th scope="row">${t}</th><td>${cell(up, t)}</td><td>${cell(down, t)}</td></tr>`)}</tbody></table>
${charts.figure('blob-throughput', 'Large blob through the LB, MiB/s', bars(targets, [
    { label: 'upload', data: targets.map((t) => rate(up, t)), color: '#5499c7' },
    { label: 'download', data: targets.map((t) => rate(down, t)), color: '#52be80' },
  ], 'MiB/s'))}</section>`;
}

/** The measurements other checks leave in their evidence, as tables and charts per target; nothing for checks the run did not have. */
export function renderMeasurementSections(results: readonly CheckResult[], charts: ChartSet, colors: Record<string, string>): SafeHtml {
  const parts = [wsReconnect(results, charts), hashDisplacement(results, charts), weightShares(results, charts, colors), blobThroughput(results, charts)];
  if (parts.every((p) => p.value === '')) return html``;
  return html`<section id="measurements"><h2>Measurements</h2>${parts}</section>`;
}
