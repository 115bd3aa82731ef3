import type { ToxicSpec } from './fault-proxy.ts';

/*
 * The toxics of the fault proxy, one stage each in a chain per stream of a connection:
 * data enters the first stage and leaves the last one into the socket. A stage may hold
 * chunks (and the end of the stream, the FIN) for a while; when its toxic is removed it
 * hands on everything it holds at once, in order, so a removal never loses or reorders bytes.
 */

/** Where a stage sends what it lets through: the next stage, or the socket. */
export interface ToxicSink {
  write(chunk: Buffer): void;
  /** the end of the stream (FIN). */
  end(): void;
}

/** What a stage may ask of the stream and connection it sits in. */
export interface ToxicHost {
  /** re-checks backpressure after the stage let bytes go. */
  flow(): void;
  /** closes the connection: FIN to both peers (timeout, limit_data). */
  close(): void;
  /** resets the connection: RST to both peers (reset_peer). */
  reset(): void;
  /** drops whatever else the source sends; the connection closes once this stream's FIN is written. */
  cut(): void;
}

const FIN = Symbol('fin');
type Item = Buffer | typeof FIN;

/** One timer or immediate at a time; `set(0)` waits one turn of the event loop. */
class Timer {
  #cancel: (() => void) | undefined;

  get pending(): boolean {
    return this.#cancel !== undefined;
  }

  set(delayMs: number, fn: () => void): void {
    this.clear();
    const run = (): void => {
      this.#cancel = undefined;
      fn();
    };
    if (delayMs <= 0) {
      const handle = setImmediate(run);
      this.#cancel = () => clearImmediate(handle);
    } else {
      const handle = setTimeout(run, delayMs);
      this.#cancel = () => clearTimeout(handle);
    }
  }

  clear(): void {
    this.#cancel?.();
    this.#cancel = undefined;
  }
}

/** A queue with O(1) shift; a slicer may hold thousands of pieces. */
class Fifo<T> {
  #items: T[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  peek(): T | undefined {
    return this.#items[this.#head];
  }

  /** replaces the first item (what is left of a partly sent chunk). */
  setHead(item: T): void {
    this.#items[this.#head] = item;
  }

  shift(): T | undefined {
    const item = this.#items[this.#head];
    this.#head += 1;
    if (this.#head === this.#items.length) this.clear();
    else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}

const DISCARD: ToxicSink = { write: () => undefined, end: () => undefined };

/** One toxic acting on one stream of one connection. */
export abstract class ToxicStage {
  next: ToxicSink = DISCARD;
  /** bytes held right now; the stream pauses its source when its stages hold too much. */
  heldBytes = 0;
  protected readonly host: ToxicHost;

  constructor(host: ToxicHost) {
    this.host = host;
  }

  /** called once the stage is in the chain: timers counting from the moment the toxic applies start here. */
  start(): void {}

  abstract write(chunk: Buffer): void;
  abstract end(): void;
  /** the toxic was removed: hand on everything held, in order, now. */
  abstract flush(): void;
  /** the connection is gone: drop what is held and stop timers. */
  abstract dispose(): void;
}

/** A stage that queues what it holds and lets it go on its own schedule. */
abstract class QueueStage extends ToxicStage {
  protected readonly queue = new Fifo<Item>();
  protected readonly timer = new Timer();

  write(chunk: Buffer): void {
    this.#enqueue(chunk);
  }

  end(): void {
    this.#enqueue(FIN);
  }

  #enqueue(item: Item): void {
    const wasEmpty = this.queue.length === 0;
    this.queue.push(item);
    if (item !== FIN) this.heldBytes += item.length;
    this.arrived(wasEmpty);
  }

  protected abstract arrived(wasEmpty: boolean): void;

  /** sends the first `bytes` of the head chunk (all of it by default), or the FIN. */
  protected releaseHead(bytes?: number): void {
    const head = this.queue.peek();
    if (head === undefined) return;
    if (head === FIN) {
      this.queue.shift();
      this.next.end();
      return;
    }
    if (bytes === undefined || bytes >= head.length) {
      this.queue.shift();
      this.heldBytes -= head.length;
      this.next.write(head);
    } else {
      this.queue.setHead(head.subarray(bytes));
      this.heldBytes -= bytes;
      this.next.write(head.subarray(0, bytes));
    }
  }

  flush(): void {
    this.timer.clear();
    while (this.queue.length > 0) this.releaseHead();
    this.host.flow();
  }

  dispose(): void {
    this.timer.clear();
    this.queue.clear();
    this.heldBytes = 0;
  }
}

/** latency: each chunk (and the FIN) leaves latency ± jitter after it arrived; order is kept. */
class LatencyStage extends QueueStage {
  readonly #latencyMs: number;
  readonly #jitterMs: number;
  readonly #random: () => number;
  readonly #dueAt = new Fifo<number>();
  #lastDueAt = 0;

  constructor(host: ToxicHost, latencyMs: number, jitterMs: number, random: () => number) {
    super(host);
    this.#latencyMs = latencyMs;
    this.#jitterMs = jitterMs;
    this.#random = random;
  }

  protected arrived(wasEmpty: boolean): void {
    const jitter = this.#jitterMs === 0 ? 0 : (this.#random() * 2 - 1) * this.#jitterMs;
    // A chunk never overtakes the one before it, as on a TCP stream.
    const due = Math.max(performance.now() + Math.max(0, this.#latencyMs + jitter), this.#lastDueAt);
    this.#lastDueAt = due;
    this.#dueAt.push(due);
    if (wasEmpty) this.#schedule();
  }

  #schedule(): void {
    const due = this.#dueAt.peek();
    if (due !== undefined) this.timer.set(Math.max(1, due - performance.now()), () => this.#pump());
  }

  #pump(): void {
    const now = performance.now();
    for (let due = this.#dueAt.peek(); due !== undefined && due <= now; due = this.#dueAt.peek()) {
      this.#dueAt.shift();
      this.releaseHead();
    }
    this.host.flow();
    this.#schedule();
  }

  override flush(): void {
    this.#dueAt.clear();
    super.flush();
  }

  override dispose(): void {
    this.#dueAt.clear();
    super.dispose();
  }
}

/**
 * bandwidth: bytes leave at `rateKbps` KB/s (KB = 1000 bytes, toxiproxy's `rate`), each piece
 * after its transmission time, in pieces of at most 100 ms worth, as toxiproxy does.
 */
class BandwidthStage extends QueueStage {
  readonly #bytesPerMs: number;
  readonly #maxPieceBytes: number;
  /** when the simulated wire finishes what it is sending; it never banks idle time as credit. */
  #wireFreeAt = 0;
  #pieceBytes = 0;
  #pieceDueAt: number | undefined;

  constructor(host: ToxicHost, rateKbps: number) {
    super(host);
    this.#bytesPerMs = rateKbps;
    this.#maxPieceBytes = Math.max(1, Math.floor(rateKbps * 100));
  }

  protected arrived(wasEmpty: boolean): void {
    if (!wasEmpty) return;
    this.#wireFreeAt = Math.max(this.#wireFreeAt, performance.now());
    this.#pump();
  }

  #pump(): void {
    const now = performance.now();
    for (let head = this.queue.peek(); head !== undefined; head = this.queue.peek()) {
      if (head === FIN) {
        this.releaseHead();
        continue;
      }
      if (this.#pieceDueAt === undefined) {
        this.#pieceBytes = Math.min(head.length, this.#maxPieceBytes);
        this.#pieceDueAt = this.#wireFreeAt + this.#pieceBytes / this.#bytesPerMs;
      }
      if (this.#pieceDueAt > now) {
        this.timer.set(Math.max(1, this.#pieceDueAt - now), () => this.#pump());
        break;
      }
      this.#wireFreeAt = this.#pieceDueAt;
      this.#pieceDueAt = undefined;
      this.releaseHead(this.#pieceBytes);
    }
    this.host.flow();
  }

  override flush(): void {
    this.#pieceDueAt = undefined;
    super.flush();
  }
}

/**
 * slicer: chunks leave as pieces of averageSize ± sizeVariation bytes, `delayUs` apart. Delays
 * under 1 ms wait one turn of the event loop instead (timers have millisecond resolution).
 */
class SlicerStage extends QueueStage {
  readonly #averageBytes: number;
  readonly #variationBytes: number;
  readonly #delayMs: number;
  readonly #random: () => number;
  #nextAt = 0;

  constructor(host: ToxicHost, averageBytes: number, variationBytes: number, delayUs: number, random: () => number) {
    super(host);
    this.#averageBytes = averageBytes;
    this.#variationBytes = variationBytes;
    this.#delayMs = delayUs / 1000;
    this.#random = random;
  }

  protected arrived(wasEmpty: boolean): void {
    if (wasEmpty && !this.timer.pending) this.#pump();
  }

  #sliceBytes(): number {
    const spread = Math.floor(this.#random() * (2 * this.#variationBytes + 1)) - this.#variationBytes;
    return Math.max(1, this.#averageBytes + spread);
  }

  #pump(): void {
    for (let head = this.queue.peek(); head !== undefined; head = this.queue.peek()) {
      if (head === FIN) {
        this.releaseHead();
        continue;
      }
      const now = performance.now();
      if (this.#delayMs > 0 && now < this.#nextAt) {
        this.timer.set(this.#delayMs >= 1 ? this.#nextAt - now : 0, () => this.#pump());
        break;
      }
      this.releaseHead(this.#sliceBytes());
      this.#nextAt = now + this.#delayMs;
    }
    this.host.flow();
  }
}

/**
 * timeout: nothing passes; the connection closes after timeoutMs (0: never). What arrives is
 * held, not dropped as toxiproxy does, so it flows on intact when the toxic is removed; the
 * stream's byte limit then pauses the sender and TCP pushes back.
 */
class TimeoutStage extends QueueStage {
  readonly #timeoutMs: number;

  constructor(host: ToxicHost, timeoutMs: number) {
    super(host);
    this.#timeoutMs = timeoutMs;
  }

  override start(): void {
    if (this.#timeoutMs > 0) this.timer.set(this.#timeoutMs, () => this.host.close());
  }

  protected arrived(): void {}
}

/** reset_peer: data passes until timeoutMs after the toxic applies (0: at once), then RST both ways. */
class ResetPeerStage extends ToxicStage {
  readonly #timeoutMs: number;
  readonly #timer = new Timer();

  constructor(host: ToxicHost, timeoutMs: number) {
    super(host);
    this.#timeoutMs = timeoutMs;
  }

  override start(): void {
    this.#timer.set(this.#timeoutMs, () => this.host.reset());
  }

  write(chunk: Buffer): void {
    this.next.write(chunk);
  }

  end(): void {
    this.next.end();
  }

  flush(): void {
    this.#timer.clear();
  }

  dispose(): void {
    this.#timer.clear();
  }
}

/** slow_close: data passes; the FIN is held for delayMs. */
class SlowCloseStage extends ToxicStage {
  readonly #delayMs: number;
  readonly #timer = new Timer();

  constructor(host: ToxicHost, delayMs: number) {
    super(host);
    this.#delayMs = delayMs;
  }

  write(chunk: Buffer): void {
    this.next.write(chunk);
  }

  end(): void {
    this.#timer.set(this.#delayMs, () => this.next.end());
  }

  flush(): void {
    if (!this.#timer.pending) return;
    this.#timer.clear();
    this.next.end();
  }

  dispose(): void {
    this.#timer.clear();
  }
}

/** limit_data: the first `bytes` bytes pass (counted from when the toxic applies), then FIN and close. */
class LimitDataStage extends ToxicStage {
  #remainingBytes: number;
  #done = false;

  constructor(host: ToxicHost, bytes: number) {
    super(host);
    this.#remainingBytes = bytes;
  }

  write(chunk: Buffer): void {
    if (this.#done) return;
    if (chunk.length < this.#remainingBytes) {
      this.#remainingBytes -= chunk.length;
      this.next.write(chunk);
      return;
    }
    if (this.#remainingBytes > 0) this.next.write(chunk.subarray(0, this.#remainingBytes));
    this.#remainingBytes = 0;
    this.#done = true;
    this.host.cut();
    this.next.end();
  }

  end(): void {
    if (!this.#done) this.next.end();
  }

  flush(): void {}

  dispose(): void {}
}

/** The stage acting out one toxic on one stream; `random` is the connection's seeded generator for it. */
export function createToxicStage(spec: ToxicSpec, host: ToxicHost, random: () => number): ToxicStage {
  switch (spec.type) {
    case 'latency':
      return new LatencyStage(host, spec.attributes.latencyMs, spec.attributes.jitterMs, random);
    case 'bandwidth':
      return new BandwidthStage(host, spec.attributes.rateKbps);
    case 'slicer':
      return new SlicerStage(host, spec.attributes.averageSizeBytes, spec.attributes.sizeVariationBytes, spec.attributes.delayUs, random);
    case 'timeout':
      return new TimeoutStage(host, spec.attributes.timeoutMs);
    case 'reset_peer':
      return new ResetPeerStage(host, spec.attributes.timeoutMs);
    case 'slow_close':
      return new SlowCloseStage(host, spec.attributes.delayMs);
    case 'limit_data':
      return new LimitDataStage(host, spec.attributes.bytes);
  }
}
