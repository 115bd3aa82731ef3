import { Client } from 'undici';

/** How one server's connections behave. */
export interface ConnectionPoolOptions {
  /** Idle connections kept for reuse; 0 closes every connection after its request. */
  maxIdle: number;
  /** An idle connection is closed after this long (undici also honours a shorter `Keep-Alive: timeout=` hint). */
  idleMs: number;
  connectMs: number;
  /** Max upstream silence: while waiting for the response head (once the request is sent) and between body chunks; 0 = none. */
  readMs: number;
}

/** A connection lent to one request. */
export interface Lease {
  client: Client;
  /** The connection already carried a request: a reset before any response may just be the keep-alive race. */
  reused: boolean;
}

/*
 * Why undici and not node:http's Agent: measured on this proxy's hot path, undici's
 * HTTP/1.1 client costs about 30% less CPU per request, hands back raw header buffers
 * (order, case and duplicates intact), and times reads the way nginx does: no head
 * timeout while the request body is still being written, no body timeout while the
 * client applies backpressure. Its Pool caps *all* connections, not idle ones, and
 * capping those would queue API calls behind long blob transfers; so this pool keeps
 * one undici Client per connection (pipelining 1), lends them out without limit, and
 * keeps `maxIdle` of them between requests, like nginx's `keepalive N`.
 */

/**
 * Idle connections beyond `maxIdle` are closed once they have sat unused this long.
 * Closing them the moment they free up (what nginx does) makes a burst wider than
 * `maxIdle` reconnect on every request, which in node costs more than the request.
 */
export const SURPLUS_IDLE_MS = 1000;

interface IdleConnection {
  client: Client;
  /** performance.now() when it went idle. */
  since: number;
}

/** The connections to one upstream server: unlimited in use, `maxIdle` kept idle. */
export class ConnectionPool {
  private readonly origin: string;
  private readonly options: ConnectionPoolOptions;
  /** Idle connections, most recently used last (LIFO keeps the warmest socket busy, the surplus ages out). */
  private readonly idle: IdleConnection[] = [];
  private readonly all = new Set<Client>();
  private trimTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(origin: string, options: ConnectionPoolOptions) {
    this.origin = origin;
    this.options = options;
  }

  /** An idle connection, or a new one (connected lazily by the first dispatch). */
  acquire(): Lease {
    const entry = this.idle.pop();
    if (entry) return { client: entry.client, reused: true };
    return { client: this.create(), reused: false };
  }

  /** Returns a connection after a request that completed cleanly. */
  release(client: Client): void {
    if (this.closed || this.options.maxIdle === 0 || client.destroyed || client.closed) {
      this.discard(client);
      return;
    }
    this.idle.push({ client, since: performance.now() });
    if (this.idle.length > this.options.maxIdle && this.trimTimer === undefined) {
      this.trimTimer = setTimeout(trimSurplus, SURPLUS_IDLE_MS, this);
      this.trimTimer.unref();
    }
  }

  /** Closes surplus idle connections that have not been reused for SURPLUS_IDLE_MS. */
  trim(): void {
    this.trimTimer = undefined;
    const cutoff = performance.now() - SURPLUS_IDLE_MS;
    // The oldest idle connections are at the bottom of the stack.
    while (this.idle.length > this.options.maxIdle && (this.idle[0] as IdleConnection).since <= cutoff) {
      this.discard((this.idle.shift() as IdleConnection).client);
    }
    if (this.idle.length > this.options.maxIdle && !this.closed) {
      // Timers may fire a little early against performance.now(): aim just past the oldest one's due time.
      const dueInMs = (this.idle[0] as IdleConnection).since + SURPLUS_IDLE_MS - performance.now();
      this.trimTimer = setTimeout(trimSurplus, Math.max(1, Math.ceil(dueInMs) + 2), this);
      this.trimTimer.unref();
    }
  }

  /** Drops a connection (after a failed request, or surplus). */
  discard(client: Client): void {
    this.all.delete(client);
    const i = this.idle.findIndex((e) => e.client === client);
    if (i >= 0) this.idle.splice(i, 1);
    if (!client.destroyed) void client.destroy().catch(() => undefined);
  }

  /** Connections open or lent out. */
  get size(): number {
    return this.all.size;
  }

  /** Idle connections right now. */
  get idleCount(): number {
    return this.idle.length;
  }

  /** Destroys every connection, in use or idle. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.trimTimer);
    this.idle.length = 0;
    const clients = [...this.all];
    this.all.clear();
    await Promise.all(clients.map((c) => c.destroy().catch(() => undefined)));
  }

  private create(): Client {
    const { options } = this;
    const client = new Client(this.origin, {
      // pipelining 0 makes undici send `Connection: close`: no reuse at all.
      pipelining: options.maxIdle === 0 ? 0 : 1,
      keepAliveTimeout: options.idleMs,
      keepAliveMaxTimeout: options.idleMs,
      headersTimeout: options.readMs,
      bodyTimeout: options.readMs,
      maxResponseSize: -1,
      connect: { timeout: options.connectMs, noDelay: true },
    });
    this.all.add(client);
    // An idle connection the upstream (or the idle timer) closed is not worth keeping.
    client.on('disconnect', () => {
      const i = this.idle.findIndex((e) => e.client === client);
      if (i >= 0) {
        this.idle.splice(i, 1);
        this.all.delete(client);
        void client.destroy().catch(() => undefined);
      }
    });
    return client;
  }
}

function trimSurplus(pool: ConnectionPool): void {
  pool.trim();
}
