import type { Endpoint, ErrorKind, LbClient, LbResponse } from '../client/lb-client.ts';

/** Epoch milliseconds on the monotonic clock, the time base of every sample and event. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Names the backend that served a response, or null when none can be told (an error, an answer by the LB itself). */
export type IdentifyBackend = (response: LbResponse) => string | null;

/** lbdrill's own backends name themselves in X-Lbdrill-Backend. */
export const identifyLbdrillBackend: IdentifyBackend = (res) => {
  const backend = res.headers['x-lbdrill-backend'];
  return typeof backend === 'string' ? backend : null;
};

/** One probe request: when it was sent, who answered, how. */
export interface ProbeSample {
  seq: number;
  /** epoch ms when the request was handed to the client. */
  sentAtMs: number;
  latencyMs: number;
  /** the backend that served it, as `identify` names it; null when no backend answered (error, or an answer by the LB itself). */
  backend: string | null;
  status: number | null;
  /** set when no response arrived. */
  error: ErrorKind | null;
  /** sent a second time: its reused keep-alive connection closed unanswered (only with `retryOnKeepAliveClose`). */
  retried?: true;
}

export interface ProbeOptions {
  client: LbClient;
  endpoint: Endpoint;
  /** requests per second, sent on a fixed schedule (open loop: a slow answer does not delay the next send). */
  ratePerSec: number;
  /** path of request `seq`. */
  path: (seq: number) => string;
  /** one probe request gives up after this long; a timeout is an error of kind `timeout`. */
  timeoutMs: number;
  /** at most this many requests in flight; a send slot that finds the cap reached is skipped and counted. */
  maxInFlight?: number;
  /** send request `seq` through `clients[seq % clients.length]` instead (distinct source addresses, under per-address rate limits). */
  clients?: readonly LbClient[];
  /** extra request headers (the probe's own id header is always sent). */
  headers?: Record<string, string>;
  onSample?: (sample: ProbeSample) => void;
  /** names the backend of a response (default: X-Lbdrill-Backend, lbdrill's own backends; a deployment's header, cookie or body rule). */
  identify?: IdentifyBackend;
  /** resend a request whose reused keep-alive connection closed before any answer, once (RFC 9112 §9.3.1; see LbClient.send). */
  retryOnKeepAliveClose?: boolean;
}

const DEFAULT_MAX_IN_FLIGHT = 512;

/**
 * A probe stream: requests at a fixed rate through the LB, every one recorded. The
 * measurement resolution of anything derived from it is one send interval
 * (1000 / ratePerSec ms): a change in the LB's behaviour shows up at the next send.
 */
export class ProbeStream {
  readonly samples: ProbeSample[] = [];
  readonly startedAtMs: number;
  readonly intervalMs: number;
  /** send slots skipped because `maxInFlight` requests were outstanding (client-side overload, never an LB verdict). */
  skipped = 0;
  #inFlight = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #seq = 0;
  #stopped = false;
  readonly #options: ProbeOptions;
  readonly #maxInFlight: number;

  private constructor(options: ProbeOptions) {
    if (!(options.ratePerSec > 0 && options.ratePerSec <= 5000)) throw new RangeError(`probe rate must be in (0, 5000] req/s, got ${options.ratePerSec}`);
    this.#options = options;
    this.#maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.intervalMs = 1000 / options.ratePerSec;
    this.startedAtMs = nowMs();
  }

  /** Starts sending at once; `stop()` ends it. */
  static start(options: ProbeOptions): ProbeStream {
    const probe = new ProbeStream(options);
    probe.#tick();
    return probe;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  #tick(): void {
    if (this.#stopped) return;
    // Catch up on the schedule: sends are due at startedAt + seq * interval.
    const due = Math.floor((nowMs() - this.startedAtMs) / this.intervalMs) + 1;
    while (this.#seq < due) {
      const seq = this.#seq++;
      if (this.#inFlight.size >= this.#maxInFlight) {
        this.skipped++;
        continue;
      }
      const p = this.#send(seq).finally(() => this.#inFlight.delete(p));
      this.#inFlight.add(p);
    }
    const next = this.startedAtMs + this.#seq * this.intervalMs;
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, next - nowMs()));
  }

  async #send(seq: number): Promise<void> {
    const { endpoint, path, timeoutMs, headers, clients } = this.#options;
    const client = clients && clients.length > 0 ? clients[seq % clients.length]! : this.#options.client;
    const sentAtMs = nowMs();
    const res = await client.send(endpoint, { path: path(seq), timeoutMs, headers: { 'x-lbdrill-id': `probe-${seq}`, ...headers } }, { retryOnKeepAliveClose: this.#options.retryOnKeepAliveClose === true });
    const sample: ProbeSample = {
      seq,
      sentAtMs,
      latencyMs: nowMs() - sentAtMs,
      backend: res.status === undefined ? null : (this.#options.identify ?? identifyLbdrillBackend)(res),
      status: res.status ?? null,
      error: res.error?.kind ?? null,
      ...(res.retriedAfter ? { retried: true as const } : {}),
    };
    this.samples.push(sample);
    this.#options.onSample?.(sample);
  }

  /**
   * Waits until every request sent so far has its answer, at most `timeoutMs` (sending goes on);
   * true when they all did. A fault is undone only after this: a request held up in the client or
   * in the LB's accept queue while the machine stalls would otherwise reach a restarted server and
   * read as traffic the LB sent it while it was down.
   */
  async answered(timeoutMs: number): Promise<boolean> {
    const pending = [...this.#inFlight];
    if (pending.length === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<false>((resolve) => (timer = setTimeout(resolve, timeoutMs, false)));
    try {
      return await Promise.race([Promise.allSettled(pending).then(() => true as const), expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops sending and waits for the requests still in flight (each ends within timeoutMs). */
  async stop(): Promise<ProbeSample[]> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await Promise.all(this.#inFlight);
    this.samples.sort((a, b) => a.seq - b.seq);
    return this.samples;
  }
}

/** A sample the client saw fail: no response, or a 5xx. */
export function isClientError(sample: ProbeSample): boolean {
  return sample.error !== null || (sample.status !== null && sample.status >= 500);
}
