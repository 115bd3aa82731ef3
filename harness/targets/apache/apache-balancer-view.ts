import type { LbServerState } from '../../runtime/lb-state-event.ts';
import { fetchViewText, PolledView, type ViewedServer } from '../../runtime/polled-view.ts';

/**
 * Apache's worker status words (mod_proxy balancer-manager, "Status" column): Ok, Err (in
 * error: down until retry=), Dis (disabled), Stop, Drn (draining), HcFl (health check failed), Stby.
 */
function stateOf(status: string): LbServerState {
  if (/\b(Stop|Dis)\b/.test(status)) return 'maint';
  if (/\bDrn\b/.test(status)) return 'drain';
  if (/\b(Err|HcFl)\b/.test(status)) return 'down';
  return 'up';
}

const text = (html: string) => html.replace(/<[^>]*>/g, '').replace(/&amp;/g, '&').trim();

/**
 * Workers of an Apache balancer-manager page: each "LoadBalancer Status for balancer://NAME"
 * heading, then its worker table (Worker URL, Route, ..., Status). A worker is named by its
 * route where it has one (`route=` in BalancerMember), else by its URL.
 */
export function parseBalancerManager(html: string): ViewedServer[] {
  const rows: ViewedServer[] = [];
  const sections = html.split(/<h3>\s*LoadBalancer Status for /i).slice(1);
  for (const section of sections) {
    const pool = /balancer:\/\/([^<\s"]+)/.exec(section)?.[1];
    if (pool === undefined) continue;
    const table = /<tr>\s*<th>Worker URL<\/th>([\s\S]*?)<\/table>/i.exec(section);
    if (!table) continue;
    const head = [...table[0].matchAll(/<th>([\s\S]*?)<\/th>/gi)].map((m) => text(m[1]!));
    const route = head.indexOf('Route');
    const status = head.indexOf('Status');
    for (const tr of table[1]!.split(/<tr[^>]*>/i).slice(1)) {
      const cells = [...tr.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/gi)].map((m) => text(m[1]!));
      if (cells.length <= status || status < 0) continue;
      const server = (route >= 0 && cells[route]) || cells[0]!;
      rows.push({ pool, server, state: stateOf(cells[status]!) });
    }
  }
  return rows;
}

/** A deployed Apache's balancer-manager page (mod_proxy_balancer), read every poll. */
export class ApacheBalancerView extends PolledView {
  readonly title: string;
  readonly #url: string;

  constructor(url: string, pollMs: number) {
    super(pollMs);
    this.#url = url;
    this.title = `Apache balancer-manager ${url}`;
  }

  async states(): Promise<ViewedServer[]> {
    return parseBalancerManager(await fetchViewText(this.#url));
  }
}
