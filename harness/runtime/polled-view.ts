import { request } from 'undici';
import { formatMs } from '../duration.ts';
import { LbdrillError } from '../errors.ts';
import { nowMs } from '../probe/probe-stream.ts';
import type { LbServerState } from './lb-state-event.ts';
import { RuntimeApi } from './runtime-api.ts';

/** One HTTP read of a view (stats page, admin API, metrics) gives up after this long. */
const FETCH_TIMEOUT_MS = 5_000;

/** One server as the LB reports it. */
export interface ViewedServer {
  pool: string;
  server: string;
  state: LbServerState;
}

/**
 * The LB's own view of a pool lbdrill did not start: it reads every server's state every
 * `pollMs` and records each change as an event. A transition is seen at the first poll
 * after it, so its time is late by up to one poll interval (plus the read's own latency);
 * the report says so. Read-only: a deployed LB is changed by its operator's hooks, not by
 * lbdrill's commands.
 */
export abstract class PolledView extends RuntimeApi implements AsyncDisposable {
  readonly pollMs: number;
  /** the last poll's error, when the LB did not answer it (cleared by the next good one). */
  lastError: string | undefined;
  #last = new Map<string, LbServerState>();
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #closed = false;

  constructor(pollMs: number) {
    super();
    this.pollMs = pollMs;
  }

  get eventSource(): string {
    return `${this.title} polled every ${formatMs(this.pollMs)}: a transition is timed at the first poll that shows it (late by up to ${formatMs(this.pollMs)})`;
  }

  /** Reads the states once (a view that does not answer fails the start, with the LB's words), then polls. */
  async start(): Promise<ViewedServer[]> {
    const first = await this.states();
    for (const s of first) this.#last.set(`${s.pool}/${s.server}`, s.state);
    this.#schedule();
    return first;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#polling = this.#poll().finally(() => this.#schedule());
    }, this.pollMs);
  }

  async #poll(): Promise<void> {
    let now: ViewedServer[];
    try {
      now = await this.states();
      this.lastError = undefined;
    } catch (err) {
      this.lastError = (err as Error).message;
      return;
    }
    const atMs = nowMs();
    for (const s of now) {
      const key = `${s.pool}/${s.server}`;
      const before = this.#last.get(key);
      this.#last.set(key, s.state);
      if (before !== undefined && before !== s.state) this.record({ atMs, pool: s.pool, server: s.server, state: s.state, reason: `${this.title}: ${before} -> ${s.state}` });
    }
  }

  async command(): Promise<void> {
    throw new LbdrillError('LBDRILL_ERR_RUNTIME_API', `${this.title} is read-only here: a deployed pool is changed through its hooks`);
  }

  async setMapEntry(): Promise<void> {
    throw new LbdrillError('LBDRILL_ERR_RUNTIME_API', `${this.title} is read-only here: a deployed pool is changed through its hooks`);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#polling;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** GETs a view's page; throws LBDRILL_ERR_RUNTIME_API with the status and the start of the body when it is not 2xx. */
export async function fetchViewText(url: string, headers: Record<string, string> = {}): Promise<string> {
  let res;
  try {
    res = await request(url, { headers, headersTimeout: FETCH_TIMEOUT_MS, bodyTimeout: FETCH_TIMEOUT_MS });
  } catch (err) {
    throw new LbdrillError('LBDRILL_ERR_RUNTIME_API', `${url}: ${(err as Error).message}`, { cause: err });
  }
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new LbdrillError('LBDRILL_ERR_RUNTIME_API', `${url}: ${res.statusCode} ${text.slice(0, 200).replace(/\s+/g, ' ')}`);
  return text;
}
