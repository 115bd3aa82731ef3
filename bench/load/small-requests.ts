import { connect, type Socket } from 'node:net';
import * as hdr from 'hdr-histogram-js';

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
const USER_AGENT = 'lbdrill-bench';

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

/** Bytes per socket read: a /small response is a few hundred bytes, one read holds it. */
const READ_BUFFER_BYTES = 16 * 1024;
const HEAD_END = '\r\n\r\n';

/*
 * Why raw sockets and not undici (the generator until 2026-12): undici parses every response
 * in WebAssembly and builds header arrays and handler calls per request; against nginx and
 * HAProxy on this 2-core box it reached 0.79-0.87x wrk's req/s with the same connections,
 * its client using ~30% of a core against wrk's ~17% (bench/README.md). Here each connection
 * writes one preallocated request and reads the answer into a buffer it reuses; the HTTP is
 * the minimum the bench's backends need: a status line, Content-Length or chunked framing.
 */

/**
 * One keep-alive connection sending GET `path` back to back: the next request goes out
 * when the previous answer's last byte is in. A dropped connection counts as an error and
 * is opened again.
 */
class RequestLoop {
  private readonly host: string;
  private readonly port: number;
  private readonly request: Buffer;
  private readonly m: Measurement;
  private readonly buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private socket: Socket | undefined;
  private startedAt = 0;
  /** the response so far, head and body, latin1 (one byte, one char). */
  private acc = '';
  private bodyStart = -1;
  private status = 0;
  private contentLength = -1;
  private chunked = false;
  private closeAfter = false;
  private inFlight = false;

  constructor(origin: string, path: string, m: Measurement) {
    const url = new URL(origin);
    this.host = url.hostname;
    this.port = Number(url.port) || 80;
    this.request = Buffer.from(`GET ${path} HTTP/1.1\r\nhost: ${url.host}\r\nuser-agent: ${USER_AGENT}\r\n\r\n`, 'latin1');
    this.m = m;
  }

  start(): void {
    const socket = connect({
      host: this.host,
      port: this.port,
      noDelay: true,
      onread: { buffer: this.buffer, callback: (n: number, buf: Uint8Array) => this.onRead(n, buf as Buffer) },
    });
    this.socket = socket;
    let connected = false;
    socket.once('connect', () => {
      connected = true;
      this.next();
    });
    socket.once('error', (err: NodeJS.ErrnoException) => this.dropped(socket, err.code ?? err.name, !connected));
    socket.once('close', () => this.dropped(socket, 'ECONNRESET', !connected));
  }

  /** Closes the connection now (the cell is over or failed). */
  destroy(): void {
    this.socket?.destroy();
  }

  private next(): void {
    if (this.m.stopped) {
      this.socket?.destroy();
      return;
    }
    this.acc = '';
    this.bodyStart = -1;
    this.inFlight = true;
    this.startedAt = performance.now();
    this.socket!.write(this.request);
  }

  private onRead(n: number, buf: Buffer): boolean {
    if (!this.inFlight) return true;
    this.acc += buf.toString('latin1', 0, n);
    if (this.bodyStart < 0) {
      const end = this.acc.indexOf(HEAD_END);
      if (end < 0) return true;
      const head = this.acc.slice(0, end);
      this.bodyStart = end + HEAD_END.length;
      this.status = Number(head.slice(9, 12));
      const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
      this.contentLength = length ? Number(length[1]) : -1;
      this.chunked = /\r\ntransfer-encoding:[^\r]*chunked/i.test(head);
      this.closeAfter = /\r\nconnection:[ \t]*close/i.test(head);
      if (!this.chunked && this.contentLength < 0) {
        this.inFlight = false;
        this.m.failed('no Content-Length');
        this.socket?.destroy();
        return false;
      }
    }
    // chunked: the last chunk (RFC 9112 §7.1) ends the body; the bench's answers carry no trailers
    const done = this.chunked ? this.acc.endsWith('0\r\n\r\n') && (this.acc.length - this.bodyStart === 5 || this.acc.endsWith('\r\n0\r\n\r\n')) : this.acc.length - this.bodyStart >= this.contentLength;
    if (!done) return true;
    this.inFlight = false;
    if (this.status === 200) this.m.ok(performance.now() - this.startedAt);
    else this.m.failed(`status ${this.status}`);
    if (this.closeAfter) this.socket?.destroy();
    else this.next();
    return true;
  }

  /** The connection ended: count the request it carried (or could not carry), open a new one unless the cell is over. */
  private dropped(socket: Socket, kind: string, neverConnected: boolean): void {
    if (socket !== this.socket) return;
    this.socket = undefined;
    socket.destroy();
    if (this.inFlight || neverConnected) this.m.failed(kind);
    this.inFlight = false;
    if (this.m.stopped) {
      this.m.loopEnded();
      return;
    }
    // a refused connection fails at once: yield to the event loop instead of spinning
    setImmediate(() => this.start());
  }
}

/**
 * Keep-alive clients, `connections` of them, each sending GET `path` back to back for
 * warm-up + duration; only the completions inside the measured window count.
 */
export async function runSmallRequests(options: SmallRequestOptions): Promise<SmallRequestResult> {
  const m = new Measurement();
  const n = options.origins.length;
  const loops = Array.from({ length: options.connections }, (_, i) => new RequestLoop(options.origins[i % n]!, options.path, m));
  const t0 = performance.now();
  const timer = setInterval(() => {
    const elapsedMs = performance.now() - t0;
    options.onProgress?.({ phase: m.measuring ? 'measure' : 'warm-up', elapsedMs, reqPerSec: m.tick, errors: m.tickErrors });
    m.tick = 0;
    m.tickErrors = 0;
  }, 1000);
  try {
    for (const loop of loops) {
      m.started();
      loop.start();
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
    for (const loop of loops) loop.destroy();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
