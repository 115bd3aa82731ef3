import * as hdr from 'hdr-histogram-js';
import { Pool, type Dispatcher } from 'undici';

/** How a small-request cell is driven. */
export interface SmallRequestOptions {
  /** origins to spread the connections over (one LB, or the backends directly for the baseline). */
  origins: readonly string[];
  path: string;
  /** keep-alive connections, each with exactly one request in flight. */
  connections: number;
  warmupMs: number;
  durationMs: number;
  /** called when the measured window opens and closes (to sample CPU time). */
  onWindow?: (edge: 'start' | 'end') => void;
  /** called about once a second with the completions of the last second. */
  onProgress?: (p: { phase: 'warm-up' | 'measure'; elapsedMs: number; reqPerSec: number; errors: number }) => void;
}

/** What one small-request cell measured (warm-up excluded). */
export interface SmallRequestResult {
  durationMs: number;
  requests: number;
  reqPerSec: number;
  /** latency from dispatch to the last body byte, milliseconds. */
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  errors: number;
  /** error code (UND_ERR_SOCKET, ECONNRESET, ...) or `status 502` → count. */
  errorKinds: Record<string, number>;
}

const HISTOGRAM_MAX_US = 60_000_000;
const STOP_GRACE_MS = 5_000;
const HEADERS = ['user-agent', 'lbdrill-bench'];

class Measurement {
  measuring = false;
  stopped = false;
  requests = 0;
  errors = 0;
  /** completions since the last progress tick, warm-up included. */
  tick = 0;
  tickErrors = 0;
  readonly errorKinds: Record<string, number> = {};
  readonly histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HISTOGRAM_MAX_US, numberOfSignificantValueDigits: 3 });
  private running = 0;
  private drained: (() => void) | undefined;

  started(): void {
    this.running++;
  }

  loopEnded(): void {
    if (--this.running === 0) this.drained?.();
  }

  /** Resolves once every loop has finished its request in flight. */
  allEnded(): Promise<void> {
    return this.running === 0 ? Promise.resolve() : new Promise((resolve) => (this.drained = resolve));
  }

  ok(latencyMs: number): void {
    this.tick++;
    if (!this.measuring) return;
    this.requests++;
    this.histogram.recordValue(Math.max(1, Math.round(latencyMs * 1000)));
  }

  failed(kind: string): void {
    this.tickErrors++;
    if (!this.measuring) return;
    this.errors++;
    this.errorKinds[kind] = (this.errorKinds[kind] ?? 0) + 1;
  }
}

/**
 * One connection's request loop: the next request goes out when the previous one ends.
 * undici's dispatch with the classic callback handler (undici's own native interface;
 * the new one is adapted onto it) keeps the generator's cost per request low, so that
 * more of the shared CPU is left to the LB under test.
 */
class RequestLoop implements Dispatcher.DispatchHandler {
  private readonly pool: Pool;
  private readonly m: Measurement;
  private readonly path: string;
  private startedAt = 0;
  private status = 0;

  constructor(pool: Pool, m: Measurement, path: string) {
    this.pool = pool;
    this.m = m;
    this.path = path;
  }

  next(): void {
    if (this.m.stopped) {
      this.m.loopEnded();
      return;
    }
    this.status = 0;
    this.startedAt = performance.now();
    this.pool.dispatch({ method: 'GET', path: this.path, headers: HEADERS }, this);
  }

  onConnect(): void {}

  onHeaders(statusCode: number): boolean {
    this.status = statusCode;
    return true;
  }

  onData(): boolean {
    return true;
  }

  onComplete(): void {
    if (this.status === 200) this.m.ok(performance.now() - this.startedAt);
    else this.m.failed(`status ${this.status}`);
    this.next();
  }

  onError(err: Error): void {
    this.m.failed((err as NodeJS.ErrnoException).code ?? err.name);
    // A refused connection fails at once: yield to the event loop instead of spinning.
    setImmediate(() => this.next());
  }
}

/**
 * Keep-alive clients, `connections` of them, each sending GET `path` back to back for
 * warm-up + duration; only the completions inside the measured window count.
 */
export async function runSmallRequests(options: SmallRequestOptions): Promise<SmallRequestResult> {
  const m = new Measurement();
  const n = options.origins.length;
  const pools = options.origins.map(
    (origin, i) =>
      new Pool(origin, {
        connections: Math.ceil((options.connections - i) / n),
        pipelining: 1,
        keepAliveTimeout: 120_000,
        keepAliveMaxTimeout: 120_000,
        connect: { noDelay: true },
      }),
  );
  const t0 = performance.now();
  const timer = setInterval(() => {
    const elapsedMs = performance.now() - t0;
    options.onProgress?.({ phase: m.measuring ? 'measure' : 'warm-up', elapsedMs, reqPerSec: m.tick, errors: m.tickErrors });
    m.tick = 0;
    m.tickErrors = 0;
  }, 1000);
  try {
    for (let i = 0; i < options.connections; i++) {
      m.started();
      new RequestLoop(pools[i % n]!, m, options.path).next();
    }
    await sleep(options.warmupMs);
    m.measuring = true;
    options.onWindow?.('start');
    const start = performance.now();
    await sleep(options.durationMs);
    m.measuring = false;
    const durationMs = performance.now() - start;
    options.onWindow?.('end');
    m.stopped = true;
    await Promise.race([m.allEnded(), sleep(STOP_GRACE_MS)]);
    const h = m.histogram;
    const ms = (us: number): number => Math.round(us) / 1000;
    return {
      durationMs: Math.round(durationMs),
      requests: m.requests,
      reqPerSec: m.requests / (durationMs / 1000),
      latencyMs: {
        p50: ms(h.getValueAtPercentile(50)),
        p90: ms(h.getValueAtPercentile(90)),
        p99: ms(h.getValueAtPercentile(99)),
        max: ms(h.maxValue),
        mean: ms(h.mean),
      },
      errors: m.errors,
      errorKinds: m.errorKinds,
    };
  } finally {
    clearInterval(timer);
    m.stopped = true;
    m.histogram.destroy();
    await Promise.allSettled(pools.map((p) => p.destroy()));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
