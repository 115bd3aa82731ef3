import type { UpstreamServer } from './upstream-server.ts';

/** What `UpstreamPool.acquire` returns when servers are available but every one it may use is at `max_conn`. */
export const ALL_BUSY: unique symbol = Symbol('reference-lb.all-busy');
export type AllBusy = typeof ALL_BUSY;

/** A request waiting in an upstream's queue (a ProxyExchange or an UpgradeExchange). */
export interface QueuedRequest {
  /** The server this request would take now: a server, ALL_BUSY to keep waiting, undefined when none is left for it. Pure. */
  pickFromQueue(): UpstreamServer | AllBusy | undefined;
  /** Leaves the queue: goes to `server`, or answers 503 when undefined (no server left). */
  leaveQueue(server: UpstreamServer | undefined): void;
  /** Waited `queue_timeout_ms`: answers 503. */
  queueTimedOut(): void;
}

function onQueueTimeout(queue: UpstreamQueue, entry: QueuedRequest): void {
  queue.expire(entry);
}

/**
 * HAProxy's backend queue for `maxconn`/`maxqueue`/`timeout queue`: requests that find
 * every server they may use at its `max_conn` wait here in FIFO order, at most
 * `maxQueue` of them (more get 503 at once), each at most `timeoutMs` (then 503). Whenever
 * a request ends or a server changes state, the queue is drained on the next microtask
 * (nothing else runs in between, so a freed slot cannot be taken by a newcomer first):
 * from the head, every waiting request that can now get a server takes it, one that
 * cannot stays in place (a request pinned by a sticky cookie or a hash to a busy server
 * does not block those behind it), and one with no server left at all gets 503.
 */
export class UpstreamQueue {
  readonly maxQueue: number;
  readonly timeoutMs: number;
  /** Waiting requests in arrival order, with their timeout timers (a Map keeps insertion order and deletes in O(1)). */
  private readonly waiting = new Map<QueuedRequest, NodeJS.Timeout>();
  private readonly servers: readonly UpstreamServer[];
  private scheduled = false;
  private readonly drainNow = (): void => this.drain();

  constructor(servers: readonly UpstreamServer[], options: { maxQueue: number; timeoutMs: number }) {
    this.servers = servers;
    this.maxQueue = options.maxQueue;
    this.timeoutMs = options.timeoutMs;
  }

  /** Requests waiting right now. */
  get size(): number {
    return this.waiting.size;
  }

  /** Queues a request; false when the queue is full (the caller answers 503). */
  add(entry: QueuedRequest): boolean {
    if (this.waiting.size >= this.maxQueue) return false;
    const timer = setTimeout(onQueueTimeout, this.timeoutMs, this, entry);
    this.waiting.set(entry, timer);
    // A slot may have freed up for it already (a server it was pinned to is no longer its only choice).
    this.scheduleDrain();
    return true;
  }

  /** Takes a request out (its client went away); no-op when it is not queued. */
  remove(entry: QueuedRequest): void {
    const timer = this.waiting.get(entry);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.waiting.delete(entry);
  }

  /** A request waited `timeoutMs`. */
  expire(entry: QueuedRequest): void {
    if (!this.waiting.delete(entry)) return;
    entry.queueTimedOut();
  }

  /** Drains on the next microtask (a server's `onCapacity` calls this). */
  scheduleDrain(): void {
    if (this.scheduled || this.waiting.size === 0) return;
    this.scheduled = true;
    queueMicrotask(this.drainNow);
  }

  /** Hands free slots to waiting requests, oldest first. */
  drain(): void {
    this.scheduled = false;
    for (const [entry, timer] of this.waiting) {
      if (!this.worthTrying()) return;
      const next = entry.pickFromQueue();
      if (next === ALL_BUSY) continue;
      clearTimeout(timer);
      this.waiting.delete(entry);
      entry.leaveQueue(next);
    }
  }

  /** False when every available server is at max_conn: then no waiting request can get one. */
  private worthTrying(): boolean {
    let anyAvailable = false;
    for (const s of this.servers) {
      if (!s.available && s.state !== 'drain') continue;
      anyAvailable = true;
      if (!s.full) return true;
    }
    // With no server available at all the waiting requests are answered 503 now rather than at their timeout.
    return !anyAvailable;
  }

  /** Forgets every waiting request and its timer (the LB is closing and destroys their connections). */
  close(): void {
    for (const timer of this.waiting.values()) clearTimeout(timer);
    this.waiting.clear();
  }
}
