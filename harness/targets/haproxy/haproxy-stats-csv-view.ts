import { LbdrillError } from '../../errors.ts';
import type { LbServerState } from '../../runtime/lb-state-event.ts';
import { fetchViewText, PolledView, type ViewedServer } from '../../runtime/polled-view.ts';

/** HAProxy's `status` column: "UP", "UP 1/3" (going down), "DOWN", "DOWN 1/2" (going up), "MAINT", "DRAIN", "NOLB", "no check". */
function stateOf(status: string): LbServerState {
  if (status.startsWith('MAINT')) return 'maint';
  if (status.startsWith('DRAIN') || status.startsWith('NOLB')) return 'drain';
  if (status.startsWith('DOWN')) return 'down';
  return 'up';
}

/** Servers of HAProxy's CSV stats ("# pxname,svname,...,status,..."; FRONTEND and BACKEND rows are the proxies themselves). */
export function parseStatsCsv(text: string): ViewedServer[] {
  const lines = text.split('\n');
  const head = lines[0]?.replace(/^#\s*/, '').split(',') ?? [];
  const px = head.indexOf('pxname');
  const sv = head.indexOf('svname');
  const st = head.indexOf('status');
  if (px < 0 || sv < 0 || st < 0) throw new LbdrillError('LBDRILL_ERR_RUNTIME_API', `not HAProxy CSV stats (no pxname, svname and status columns): ${lines[0]?.slice(0, 80) ?? ''}`);
  const rows: ViewedServer[] = [];
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    const server = f[sv];
    if (!server || server === 'FRONTEND' || server === 'BACKEND') continue;
    rows.push({ pool: f[px]!, server, state: stateOf(f[st] ?? '') });
  }
  return rows;
}

/** A deployed HAProxy's stats page as CSV (`stats uri /stats`, read as /stats;csv), every poll. */
export class HaproxyStatsCsvView extends PolledView {
  readonly title: string;
  readonly #url: string;

  constructor(url: string, pollMs: number) {
    super(pollMs);
    this.#url = url;
    this.title = `HAProxy CSV stats ${url}`;
  }

  async states(): Promise<ViewedServer[]> {
    return parseStatsCsv(await fetchViewText(this.#url));
  }
}
