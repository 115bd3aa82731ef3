import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { BodySpool } from './body-spool.ts';
import type { Lease } from './connection-pool.ts';
import { LbError, isLbError } from './errors.ts';
import { buildClientResponseHeaders, buildUpstreamRequestHead, type UpstreamRequestHead } from './forward-headers.ts';
import type { HeaderRules } from './header-rules.ts';
import type { ListenerContext } from './proxy-handler.ts';
import { stripPathPrefix, type ProxyAction } from './router.ts';
import { lingerOnClose, sendLocalResponse } from './send-local-response.ts';
import {
  isRetryableStatus,
  isRetryableUpstreamError,
  isServerFailure,
  isStaleConnectionError,
  toUpstreamError,
  upstreamErrorStatus,
  type RetryFacts,
  reportUpstreamError,
} from './upstream-errors.ts';
import type { UpstreamPool } from './upstream-pool.ts';
import { ALL_BUSY, type AllBusy, type QueuedRequest } from './upstream-queue.ts';
import type { LiveSession, UpstreamServer } from './upstream-server.ts';

/** Methods that may be sent twice (RFC 9110 §9.2.2). */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE']);

/** Retries on pooled connections the upstream had already closed; they do not use up `retries` (nginx does the same). */
const MAX_STALE_RETRIES = 2;

/** Response bytes held for a slow client before the upstream is paused (nginx: proxy_buffer_size + busy buffers). */
const CLIENT_BUFFER_BYTES = 128 * 1024;

/*
 * Listeners on the client's request/response are module-level functions that find
 * their exchange through a symbol on the emitter: a request allocates no closures
 * for them, and a finished exchange detaches by clearing one property.
 */
const kExchange = Symbol('reference-lb.exchange');
type Tagged<T> = T & { [kExchange]?: ProxyExchange | undefined };

function onClientClose(this: Tagged<ServerResponse>): void {
  this[kExchange]?.onClientClose();
}
function onClientTimeout(this: Tagged<ServerResponse>): void {
  this[kExchange]?.onClientTimeout();
}
function onClientDrain(this: Tagged<ServerResponse>): void {
  this[kExchange]?.onClientDrain();
}
function onClientBodyEnd(this: IncomingMessage): void {
  // The request body is complete: the client may now be silent while we wait upstream.
  this.socket.setTimeout(0);
}
function onClientStalled(ex: ProxyExchange): void {
  ex.onClientStalled();
}
function flushHeadIfIdle(ex: ProxyExchange): void {
  ex.flushHeadIfIdle();
}

/**
 * One try against one server: undici's dispatch handler (the classic callback
 * interface, which hands over raw header buffers). Callbacks of an attempt the
 * exchange has moved on from are ignored.
 */
class Attempt implements Dispatcher.DispatchHandler {
  readonly exchange: ProxyExchange;
  readonly server: UpstreamServer;
  readonly lease: Lease;
  /** undici is writing the request: the connection was established. */
  connected = false;

  constructor(exchange: ProxyExchange, server: UpstreamServer, lease: Lease) {
    this.exchange = exchange;
    this.server = server;
    this.lease = lease;
  }

  onConnect(): void {
    this.connected = true;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    return this.exchange.onHeaders(this, statusCode, rawHeaders, resume, statusText);
  }

  onData(chunk: Buffer): boolean {
    return this.exchange.onData(this, chunk);
  }

  onComplete(): void {
    this.exchange.onComplete(this);
  }

  onError(err: Error): void {
    this.exchange.onAttemptError(this, err);
  }
}

/**
 * One proxied request: picks a server, retries when that is safe, streams both bodies
 * with backpressure, and turns failures into 502/503/504 through upstream-errors.ts.
 *
 * undici pulls the client's body only once the upstream connection is established, so
 * a refused or timed-out connect can be retried on another server even for uploads.
 *
 * While an attempt runs, the exchange sits in its server's `sessions` (only kept with
 * `on_marked_down: shutdown_sessions`) so that marking the server down can cut it.
 * When every server it may use is at `max_conn` it waits in the upstream's queue.
 */
export class ProxyExchange implements LiveSession, QueuedRequest {
  private readonly ctx: ListenerContext;
  private readonly req: Tagged<IncomingMessage>;
  private readonly res: Tagged<ServerResponse>;
  private readonly action: ProxyAction;
  private readonly pool: UpstreamPool;
  /** Response header rules of the route (and listener). */
  private readonly rules: HeaderRules | undefined;
  private readonly upstreamPath: string;
  /** Waiting in the pool's queue. */
  private queued = false;
  private head: UpstreamRequestHead | undefined;
  /** Buffered request body (request buffering). */
  private spool: BodySpool | undefined;
  private tried: Set<UpstreamServer> | undefined;
  /** The server the request's sticky cookie names (any state), when the upstream has `sticky`. */
  private pinned: UpstreamServer | undefined;
  private attempts = 0;
  private staleRetries = 0;
  private current: Attempt | undefined;
  /** Some of the client's body has been handed to an upstream: no replay possible. */
  private bodyConsumed = false;
  private bodyBytes = 0;
  private lastError: LbError | undefined;
  /** The response head has been received (and, unbuffered, written to the client). */
  private responding = false;
  private sawResponseBody = false;
  private resumeUpstream: (() => void) | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  /** Response buffering: the upstream body flows into this, and from it into a spool. */
  private responseSink: PassThrough | undefined;
  private responseSpool: BodySpool | undefined;
  private done = false;

  constructor(
    ctx: ListenerContext,
    req: IncomingMessage,
    res: ServerResponse,
    action: ProxyAction,
    pool: UpstreamPool,
    rules: HeaderRules | undefined,
    path: string,
    query: string,
  ) {
    this.ctx = ctx;
    this.req = req;
    this.res = res;
    this.action = action;
    this.pool = pool;
    this.rules = rules;
    this.upstreamPath = action.stripPrefix === undefined ? path + query : stripPathPrefix(path, query, action.stripPrefix);
  }

  start(): void {
    const { req, res, ctx } = this;
    const head = buildUpstreamRequestHead(req.rawHeaders, this.action.headers, {
      scheme: ctx.scheme,
      clientAddress: req.socket.remoteAddress ?? '',
      fallbackHost: ctx.fallbackHost,
    });
    if (head === undefined) {
      this.local(400, true);
      return;
    }
    this.head = head;
    const sticky = this.pool.sticky;
    if (sticky !== undefined) {
      this.pinned = sticky.pinnedServer(req.rawHeaders);
      sticky.stripRequest(head.headers);
    }
    if (ctx.maxBodyBytes > 0 && head.contentLength > ctx.maxBodyBytes) {
      this.local(413, true);
      return;
    }
    res[kExchange] = this;
    res.on('close', onClientClose);
    if (head.hasBody) {
      req[kExchange] = this;
      if (ctx.timeouts.send_ms > 0) {
        req.socket.setTimeout(ctx.timeouts.send_ms);
        res.on('timeout', onClientTimeout);
        req.once('end', onClientBodyEnd);
      }
      if (ctx.buffering.request) {
        this.bufferRequestBody();
        return;
      }
    }
    this.attempt();
  }

  /** Request buffering: read the whole body, then send it with a Content-Length. */
  private bufferRequestBody(): void {
    const { ctx } = this;
    BodySpool.collect(this.req, { memoryBytes: ctx.buffering.memory_bytes, tempDir: ctx.buffering.temp_dir, maxBytes: ctx.maxBodyBytes }).then(
      (spool) => {
        if (this.done) {
          void spool.dispose();
          return;
        }
        this.spool = spool;
        const head = this.head as UpstreamRequestHead;
        const headers: string[] = [];
        for (let i = 0; i < head.headers.length; i += 2) {
          const name = head.headers[i] as string;
          const lower = name.toLowerCase();
          if (lower !== 'content-length' && lower !== 'transfer-encoding') headers.push(name, head.headers[i + 1] as string);
        }
        headers.push('Content-Length', String(spool.length));
        this.head = { ...head, headers, contentLength: spool.length };
        this.attempt();
      },
      (err: unknown) => {
        if (this.done) return;
        this.finish();
        if (!this.res.destroyed) this.local(isLbError(err, 'LB_ERR_BODY_TOO_LARGE') ? 413 : 400, true);
      },
    );
  }

  /** The client's body as undici pulls it; counted against `max_body_bytes` when chunked. */
  private async *clientBody(): AsyncGenerator<Buffer> {
    this.bodyConsumed = true;
    const limit = this.ctx.maxBodyBytes;
    // destroyOnReturn false: when undici stops pulling (upstream failure) the client
    // connection must survive, so that it can still be answered.
    for await (const chunk of this.req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      if (limit > 0 && (this.bodyBytes += chunk.length) > limit) {
        throw new LbError('LB_ERR_BODY_TOO_LARGE', `request body exceeds ${limit} bytes`);
      }
      yield chunk;
    }
  }

  /** Sends the request to `chosen`, or to the pick of the cookie or balancer; ALL_BUSY queues it. */
  private attempt(chosen?: UpstreamServer | AllBusy): void {
    const head = this.head as UpstreamRequestHead;
    const pool = this.pool;
    const server = chosen ?? pool.acquire(this.tried, this.req, this.pinned);
    if (server === ALL_BUSY) {
      this.enqueue();
      return;
    }
    if (server === undefined) {
      this.fail(this.lastError ?? new LbError('LB_ERR_NO_SERVER_AVAILABLE', `no server of upstream ${pool.name} is available`));
      return;
    }
    this.attempts++;
    server.onRequestStart();
    const attempt = new Attempt(this, server, pool.connectionsTo(server).acquire());
    this.current = attempt;
    server.sessions?.add(this);
    if (head.hostValueIndex >= 0) head.headers[head.hostValueIndex] = server.hostHeader;
    let body: Readable | AsyncIterable<Buffer> | null = null;
    if (head.hasBody) body = this.spool ? this.spool.createReadStream() : this.clientBody();
    attempt.lease.client.dispatch(
      {
        method: (this.req.method ?? 'GET') as Dispatcher.HttpMethod,
        path: this.upstreamPath,
        headers: head.headers,
        body: body as Readable | null,
      },
      attempt,
    );
  }

  onHeaders(attempt: Attempt, statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (attempt !== this.current || this.done) return false;
    // 1xx (100, 103): node's server already answered Expect itself; interim responses are not relayed.
    if (statusCode < 200) return true;
    const pool = this.pool;
    const failed = pool.failOnStatus !== undefined && pool.failOnStatus.has(statusCode);
    const retryStatuses = pool.retryPolicy.statuses;
    if (retryStatuses !== undefined && retryStatuses.has(statusCode) && this.retryOnStatus(attempt, statusCode, failed)) return false;
    if (failed) this.reportStatusFailure(attempt.server, statusCode);
    this.responding = true;
    this.resumeUpstream = resume;
    const method = this.req.method;
    const bodyless = method === 'HEAD' || statusCode === 204 || statusCode === 304;
    const head = buildClientResponseHeaders(rawHeaders);
    if (pool.sticky !== undefined) pool.sticky.applyToResponse(head.headers, statusCode, method, attempt.server, this.pinned);
    if (this.rules !== undefined) this.rules.apply(head.headers);
    if (this.ctx.buffering.response && !bodyless) {
      this.bufferResponse(statusCode, statusText, head.headers, head.hasDate);
      return true;
    }
    try {
      this.writeHead(statusCode, statusText, head.headers, head.hasDate);
    } catch (err) {
      // node refused a header value the upstream sent (ERR_INVALID_CHAR and the like): nothing went out yet.
      const error = new LbError('LB_ERR_UPSTREAM_PROTOCOL', `invalid response head from ${attempt.server.address}: ${(err as Error).message}`, { cause: err });
      this.responding = false;
      const facts = this.retryFacts(attempt);
      this.endAttempt(true, false);
      this.lastError = error;
      const next = this.attempts < pool.maxAttempts && isRetryableUpstreamError(error, facts, pool.retryPolicy) ? this.retryTarget(attempt.server) : undefined;
      this.report(attempt.server, error, next !== undefined, next === undefined ? 502 : null);
      if (next === undefined) {
        this.finish();
        this.local(502, (this.head as UpstreamRequestHead).hasBody && this.spool === undefined);
      } else {
        this.attempt(next);
      }
      return false;
    }
    process.nextTick(flushHeadIfIdle, this);
    return true;
  }

  /** Every server this request may use is at max_conn: wait in the upstream's queue, or 503 when it is full. */
  private enqueue(): void {
    const queue = this.pool.queue;
    if (queue === undefined || !queue.add(this)) {
      this.fail(new LbError('LB_ERR_QUEUE_FULL', `every server of upstream ${this.pool.name} is at max_conn and its queue is full (${queue?.maxQueue ?? 0})`));
      return;
    }
    this.queued = true;
  }

  pickFromQueue(): UpstreamServer | AllBusy | undefined {
    return this.pool.acquire(this.tried, this.req, this.pinned);
  }

  leaveQueue(server: UpstreamServer | undefined): void {
    this.queued = false;
    if (this.done) return;
    if (server === undefined) this.fail(this.lastError ?? new LbError('LB_ERR_NO_SERVER_AVAILABLE', `no server of upstream ${this.pool.name} is available`));
    else this.attempt(server);
  }

  queueTimedOut(): void {
    this.queued = false;
    if (this.done) return;
    const waited = this.pool.queue?.timeoutMs ?? 0;
    this.fail(new LbError('LB_ERR_QUEUE_TIMEOUT', `waited ${waited} ms in the queue of upstream ${this.pool.name} for a server below max_conn`));
  }

  /** `retry_on` names this status: drop the response and try again, if the request allows it and a server is left. */
  private retryOnStatus(attempt: Attempt, statusCode: number, failed: boolean): boolean {
    const pool = this.pool;
    if (this.attempts >= pool.maxAttempts || !isRetryableStatus(statusCode, this.retryFacts(attempt), pool.retryPolicy)) return false;
    const server = attempt.server;
    const next = this.retryTarget(server);
    if (next === undefined) return false;
    const error = new LbError('LB_ERR_UPSTREAM_STATUS', `${server.address} answered ${statusCode}`);
    this.lastError = error;
    // Destroying the connection aborts the unwanted response.
    this.endAttempt(true, false);
    if (failed) pool.reportFailure(server, `status ${statusCode}`);
    this.report(server, error, true, null);
    this.attempt(next);
    return true;
  }

  /** A `fail_on_status` response that is relayed anyway (no retry): it counts for passive ejection. */
  private reportStatusFailure(server: UpstreamServer, statusCode: number): void {
    server.failures++;
    // The response being relayed is not cut by an ejection it causes itself.
    server.sessions?.delete(this);
    this.pool.reportFailure(server, `status ${statusCode}`);
  }

  /** The server for a retry after `failed`: another one (redispatch), or the same one while it still takes traffic; ALL_BUSY queues. */
  private retryTarget(failed: UpstreamServer): UpstreamServer | AllBusy | undefined {
    if (!this.pool.redispatch) return failed.available ? failed : undefined;
    (this.tried ??= new Set()).add(failed);
    return this.pool.acquire(this.tried, this.req, this.pinned);
  }

  private retryFacts(attempt: Attempt): RetryFacts {
    return {
      reusedSocket: attempt.lease.reused && attempt.connected,
      replayableBody: !(this.head as UpstreamRequestHead).hasBody || this.spool !== undefined || !this.bodyConsumed,
      idempotent: IDEMPOTENT_METHODS.has(this.req.method ?? ''),
    };
  }

  private writeHead(statusCode: number, statusText: string, headers: string[], hasDate: boolean): void {
    const { req, res } = this;
    if (!hasDate) headers.push('Date', new Date().toUTCString());
    if ((this.head as UpstreamRequestHead).hasBody && !req.complete && this.spool === undefined) {
      // The upstream answered before the whole upload arrived: this connection cannot be reused.
      headers.push('Connection', 'close');
      lingerOnClose(req.socket, req);
    }
    res.sendDate = false;
    res.writeHead(statusCode, statusText, headers);
  }

  /** Sends the head alone when no body byte has arrived, so a slow first chunk does not hold it back. */
  flushHeadIfIdle(): void {
    if (!this.done && !this.sawResponseBody && !this.res.destroyed) this.res.flushHeaders();
  }

  onData(attempt: Attempt, chunk: Buffer): boolean {
    if (attempt !== this.current || this.done) return false;
    if (this.responseSink) return this.responseSink.write(chunk);
    // llhttp hands a resumed body an empty span first: writing it would cost a write(2) of 0 bytes.
    if (chunk.length === 0) return true;
    this.sawResponseBody = true;
    // node corks the socket until the next tick, so a 64 KiB chunk always "fills" the 64 KiB
    // high-water mark even when the kernel takes it at once; pausing then costs a pause/resume
    // cycle per chunk (measured: 2 epoll_ctl and an empty write for every read). Pause only
    // once more than CLIENT_BUFFER_BYTES wait for the client.
    if (this.res.write(chunk) || this.res.writableLength < CLIENT_BUFFER_BYTES) return true;
    // Backpressure: undici stops reading the upstream (and its body timer) until the client drains.
    this.res.once('drain', onClientDrain);
    if (this.ctx.timeouts.client_idle_ms > 0) this.stallTimer = setTimeout(onClientStalled, this.ctx.timeouts.client_idle_ms, this);
    return false;
  }

  onClientDrain(): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    this.resumeUpstream?.();
  }

  /** The client read nothing of the response for `client_idle_ms`. */
  onClientStalled(): void {
    if (this.done) return;
    this.endAttempt(false, false);
    this.finish();
    this.res.destroy();
  }

  onComplete(attempt: Attempt): void {
    if (attempt !== this.current || this.done) return;
    this.endAttempt(false, true);
    if (this.responseSink) {
      this.responseSink.end();
      return;
    }
    this.finish();
    this.res.end();
  }

  /** Response buffering: the whole upstream body into a spool, then to the client with a Content-Length. */
  private bufferResponse(statusCode: number, statusText: string, headers: string[], hasDate: boolean): void {
    const { ctx } = this;
    const sink = new PassThrough({ highWaterMark: 64 * 1024 });
    sink.on('drain', () => this.resumeUpstream?.());
    this.responseSink = sink;
    BodySpool.collect(sink, { memoryBytes: ctx.buffering.memory_bytes, tempDir: ctx.buffering.temp_dir, maxBytes: 0 }).then(
      (spool) => {
        if (this.done || this.res.destroyed) {
          void spool.dispose();
          return;
        }
        this.responseSpool = spool;
        const out: string[] = [];
        for (let i = 0; i < headers.length; i += 2) {
          if ((headers[i] as string).toLowerCase() !== 'content-length') out.push(headers[i] as string, headers[i + 1] as string);
        }
        out.push('Content-Length', String(spool.length));
        this.writeHead(statusCode, statusText, out, hasDate);
        const body = spool.createReadStream();
        body.on('error', () => this.res.destroy());
        this.res.on('finish', () => this.finish());
        body.pipe(this.res);
      },
      () => {
        if (!this.done) this.onClientClose();
      },
    );
  }

  onAttemptError(attempt: Attempt, err: Error): void {
    if (attempt !== this.current || this.done) return;
    const server = attempt.server;
    if (isLbError(err, 'LB_ERR_BODY_TOO_LARGE')) {
      this.endAttempt(false, false);
      this.finish();
      this.local(413, true);
      return;
    }
    if (this.req.destroyed && !this.req.complete) {
      // The client vanished mid-upload and undici saw its body stream fail: not the upstream's fault.
      this.endAttempt(false, false);
      this.finish();
      return;
    }
    const error = toUpstreamError(err, { connected: attempt.connected, server: server.address });
    this.endAttempt(true, false);
    if (this.responding) {
      // Too late for a status: the head (or part of the body) is on its way; cut the client off.
      this.report(server, error, false, null);
      this.finish();
      this.res.destroy();
      return;
    }
    this.lastError = error;
    const pool = this.pool;
    const facts = this.retryFacts(attempt);
    if (pool.passive !== undefined && isServerFailure(error, facts)) pool.reportFailure(server, error.message);
    const stale = isStaleConnectionError(error, facts) && this.staleRetries < MAX_STALE_RETRIES;
    let next: UpstreamServer | AllBusy | undefined;
    if (stale) {
      // The keep-alive race says nothing about the server: any server will do, this one included.
      next = pool.redispatch ? pool.acquire(this.tried, this.req, this.pinned) : server.available ? server : undefined;
    } else if (isRetryableUpstreamError(error, facts, pool.retryPolicy) && this.attempts < pool.maxAttempts) {
      next = this.retryTarget(server);
    }
    this.report(server, error, next !== undefined, next === undefined ? upstreamErrorStatus(error) : null);
    if (next === undefined) {
      this.fail(error);
      return;
    }
    if (stale) {
      this.staleRetries++;
      this.attempts--;
    }
    this.attempt(next);
  }

  /** on_marked_down: shutdown_sessions cut this exchange: both connections go at once, whatever was sent so far. */
  abortSession(reason: string): void {
    if (this.done) return;
    const server = this.current?.server;
    if (server) {
      const error = new LbError('LB_ERR_SESSION_SHUTDOWN', `${server.address} was marked down (${reason}); session cut`);
      this.report(server, error, false, null);
    }
    this.finish();
    this.res.destroy();
  }

  /** Answers the client with the status for `error` (no response has started). */
  private fail(error: LbError): void {
    const code = error.code;
    if (code === 'LB_ERR_NO_SERVER_AVAILABLE' || code === 'LB_ERR_QUEUE_FULL' || code === 'LB_ERR_QUEUE_TIMEOUT') this.report(undefined, error, false, 503);
    this.finish();
    this.local(upstreamErrorStatus(error), (this.head as UpstreamRequestHead).hasBody && this.spool === undefined);
  }

  /** A response of the LB's own, with the route's header rules. */
  private local(status: number, bodyPending: boolean): void {
    sendLocalResponse(this.req, this.res, status, bodyPending, this.rules === undefined ? undefined : { rules: this.rules });
  }

  /** The client connection closed; before the response completed, that aborts the upstream request too. */
  onClientClose(): void {
    if (this.done) return;
    this.endAttempt(false, false);
    this.finish();
  }

  /** The client socket was silent for `send_ms`: while sending its body, that ends the request (408). */
  onClientTimeout(): void {
    if (this.req.complete) {
      this.req.socket.setTimeout(0);
      return;
    }
    // Nothing reads the body while the request waits in the queue; `queue_timeout_ms` bounds that wait.
    if (this.queued) return;
    if (this.done) {
      this.req.socket.destroy();
      return;
    }
    this.endAttempt(false, false);
    this.finish();
    if (this.res.headersSent) this.res.destroy();
    else this.local(408, true);
  }

  private report(server: UpstreamServer | undefined, error: LbError, retry: boolean, status: number | null): void {
    reportUpstreamError(this.ctx, this.pool.name, this.req, server, error, retry, status);
  }

  /**
   * Ends the current attempt: a cleanly completed connection goes back to its pool,
   * any other is destroyed, which also aborts a request still in flight on it.
   */
  private endAttempt(failed: boolean, clean: boolean): void {
    const attempt = this.current;
    if (!attempt) return;
    this.current = undefined;
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    const server = attempt.server;
    server.sessions?.delete(this);
    const connections = this.pool.connectionsTo(server);
    if (clean) connections.release(attempt.lease.client);
    else connections.discard(attempt.lease.client);
    server.onRequestEnd(failed);
  }

  /** The exchange is over: release everything; later callbacks are ignored. */
  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.queued) {
      this.queued = false;
      this.pool.queue?.remove(this);
    }
    this.endAttempt(false, false);
    this.res[kExchange] = undefined;
    this.req[kExchange] = undefined;
    this.responseSink?.destroy();
    if (this.spool) void this.spool.dispose();
    if (this.responseSpool) void this.responseSpool.dispose();
  }
}
