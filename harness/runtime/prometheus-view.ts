import type { LbServerState } from './lb-state-event.ts';
import { fetchViewText, PolledView, type ViewedServer } from './polled-view.ts';

/** The metric read: HAProxy's built-in exporter (`http-request use-service prometheus-exporter`), one sample per state label. */
export const SERVER_STATUS_METRIC = 'haproxy_server_status';

/** `haproxy_server_status{proxy="api_pool",server="s1",state="UP"} 1`: the state whose sample is 1 is the server's. */
export function parseServerStatus(text: string): ViewedServer[] {
  const rows: ViewedServer[] = [];
  const sample = new RegExp(`^${SERVER_STATUS_METRIC}\\{([^}]*)\\}\\s+(\\S+)`);
  for (const line of text.split('\n')) {
    const m = sample.exec(line);
    if (!m || Number(m[2]) !== 1) continue;
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
    const { proxy, server, state } = labels;
    if (proxy === undefined || server === undefined || state === undefined) continue;
    const s: LbServerState = state === 'MAINT' ? 'maint' : state === 'DRAIN' || state === 'NOLB' ? 'drain' : state.startsWith('DOWN') ? 'down' : 'up';
    rows.push({ pool: proxy, server, state: s });
  }
  return rows;
}

/** A Prometheus metrics URL of the LB, read every poll for `haproxy_server_status`. */
export class PrometheusView extends PolledView {
  readonly title: string;
  readonly #url: string;

  constructor(url: string, pollMs: number) {
    super(pollMs);
    this.#url = url;
    this.title = `Prometheus ${SERVER_STATUS_METRIC} at ${url}`;
  }

  async states(): Promise<ViewedServer[]> {
    return parseServerStatus(await fetchViewText(this.#url));
  }
}
