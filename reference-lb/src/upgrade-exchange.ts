import http, { type IncomingMessage } from 'node:http';
import net, { type Socket } from 'node:net';
import { LbError } from './errors.ts';
import { buildClientResponseHeaders, buildUpstreamRequestHead, type UpstreamRequestHead } from './forward-headers.ts';
import type { HeaderRules } from './header-rules.ts';
import { IDEMPOTENT_METHODS } from './proxy-exchange.ts';
import type { ListenerContext } from './proxy-handler.ts';
import { stripPathPrefix, type ProxyAction } from './router.ts';
import { lingerOnClose, sendLocalSocketResponse } from './send-local-response.ts';
import {
  isRetryableStatus,
  isRetryableUpstreamError,
  isServerFailure,
  toUpstreamError,
  upstreamErrorStatus,
  type RetryFacts,
  reportUpstreamError,
} from './upstream-errors.ts';
import type { UpstreamPool } from './upstream-pool.ts';
import { ALL_BUSY, type AllBusy, type QueuedRequest } from './upstream-queue.ts';
import type { LiveSession, UpstreamServer } from './upstream-server.ts';

/** One try: a new connection to one server carrying the Upgrade request. */
interface UpgradeAttempt {
  server: UpstreamServer;
  socket: Socket;
  request: http.ClientRequest;
  /** The TCP connection is established. */
  connected: boolean;
  connectTimer: NodeJS.Timeout | undefined;
  /** `read_ms` expired on the upstream socket. */
  onTimeout: () => void;
}

/**
 * `waiting`: for an upstream's answer (attempts and retries happen here; also while
 * queued for a server below max_conn); `relaying`: a non-101 response is on its way to
 * the client; `tunnel`: both connections are piped.
 */
type Phase = 'waiting' | 'relaying' | 'tunnel' | 'done';

function ignoreError(): void {}

/**
 * One proxied HTTP/1.1 Upgrade request (RFC 9110 §7.8), in practice a WebSocket
 * handshake (RFC 6455 §4). node hands the client connection over raw; the request goes
 * to a server picked like any other (sticky cookie, balancer), over a new connection of
 * its own (an upgraded connection is never reused), with the same header rewriting as a
 * normal request plus `Connection: Upgrade` and the client's `Upgrade`. Then:
 *
 * - `101`: its head goes to the client (hop-by-hop fields dropped, `Connection: Upgrade`
 *   and the server's `Upgrade` put back, a sticky Set-Cookie added when a new pin was
 *   made) and the two sockets are piped raw in both directions until either side closes
 *   or both are idle for the upstream's `tunnel_timeout_ms`.
 * - any other status: relayed as a normal response, then the connection is closed.
 * - a failure before the answer: retried like a request with no body (`retry_on`,
 *   `redispatch`, `retries`), else 502/503/504 from upstream-errors.ts.
 *
 * From the first attempt to the end of the tunnel the exchange counts in its server's
 * `active` and sits in its `sessions` (with `on_marked_down: shutdown_sessions`), so
 * marking the server down destroys both connections at once.
 */
export class UpgradeExchange implements LiveSession, QueuedRequest {
  private readonly ctx: ListenerContext;
  private readonly req: IncomingMessage;
  private readonly client: Socket;
  /** Bytes the client sent after its request head, forwarded once the tunnel is up. */
  private readonly clientHead: Buffer;
  private readonly action: ProxyAction;
  private readonly pool: UpstreamPool;
  /** Response header rules of the route (and listener). */
  private readonly rules: HeaderRules | undefined;
  /** Waiting in the pool's queue. */
  private queued = false;
  private readonly upstreamPath: string;
  /** The listener's open upgrade exchanges, closed with the LB. */
  private readonly registry: Set<UpgradeExchange>;
  private head: UpstreamRequestHead | undefined;
  /** The server the request's sticky cookie names (any state). */
  private pinned: UpstreamServer | undefined;
  private tried: Set<UpstreamServer> | undefined;
  private attempts = 0;
  private lastError: LbError | undefined;
  private current: UpgradeAttempt | undefined;
  private phase: Phase = 'waiting';

  constructor(
    ctx: ListenerContext,
    req: IncomingMessage,
    client: Socket,
    clientHead: Buffer,
    action: ProxyAction,
    pool: UpstreamPool,
    rules: HeaderRules | undefined,
    path: string,
    query: string,
    registry: Set<UpgradeExchange>,
  ) {
    this.ctx = ctx;
    this.req = req;
    this.client = client;
    this.clientHead = clientHead;
    this.action = action;
    this.pool = pool;
    this.rules = rules;
    this.upstreamPath = action.stripPrefix === undefined ? path + query : stripPathPrefix(path, query, action.stripPrefix);
    this.registry = registry;
  }

  start(): void {
    const { req, client, ctx } = this;
    const head = buildUpstreamRequestHead(req.rawHeaders, this.action.headers, {
      scheme: ctx.scheme,
      clientAddress: client.remoteAddress ?? '',
      fallbackHost: ctx.fallbackHost,
    });
    if (head === undefined) {
      this.local(400);
      return;
    }
    head.headers.push('Connection', 'Upgrade', 'Upgrade', req.headers.upgrade ?? '');
    this.head = head;
    const sticky = this.pool.sticky;
    if (sticky !== undefined) {
      this.pinned = sticky.pinnedServer(req.rawHeaders);
      sticky.stripRequest(head.headers);
    }
    this.registry.add(this);
    // node has removed its own listeners (ProxyHandler added an error listener): the connection is ours now.
    client.setTimeout(0);
    client.on('close', () => this.onClientClose());
    this.attempt();
  }

  /** Sends the Upgrade request to `chosen`, or to the server the cookie or balancer picks; ALL_BUSY queues it. */
  private attempt(chosen?: UpstreamServer | AllBusy): void {
    const head = this.head as UpstreamRequestHead;
    const pool = this.pool;
    const server = chosen ?? pool.acquire(this.tried, this.req, this.pinned);
    if (server === ALL_BUSY) {
      if (pool.queue !== undefined && pool.queue.add(this)) {
        this.queued = true;
        return;
      }
      this.fail(new LbError('LB_ERR_QUEUE_FULL', `every server of upstream ${pool.name} is at max_conn and its queue is full (${pool.queue?.maxQueue ?? 0})`));
      return;
    }
    if (server === undefined) {
      this.fail(this.lastError ?? new LbError('LB_ERR_NO_SERVER_AVAILABLE', `no server of upstream ${pool.name} is available`));
      return;
    }
    if (head.hostValueIndex >= 0) head.headers[head.hostValueIndex] = server.hostHeader;
    const { connect_ms: connectMs, read_ms: readMs } = this.ctx.timeouts;
    const socket = net.connect({ host: server.host, port: server.port, noDelay: true });
    socket.on('error', ignoreError);
    let request: http.ClientRequest;
    try {
      request = http.request({ method: this.req.method, path: this.upstreamPath, headers: head.headers, createConnection: () => socket });
    } catch {
      // node's client refused something its server side let through (a header value it deems invalid).
      socket.destroy();
      this.finish(false);
      this.local(400);
      return;
    }
    this.attempts++;
    server.onRequestStart();
    server.sessions?.add(this);
    const at: UpgradeAttempt = {
      server,
      socket,
      request,
      connected: false,
      connectTimer: undefined,
      onTimeout: () => this.onAttemptError(at, new LbError('LB_ERR_UPSTREAM_READ_TIMEOUT', `${server.address} went silent for ${readMs} ms`)),
    };
    this.current = at;
    at.connectTimer = setTimeout(
      () => this.onAttemptError(at, new LbError('LB_ERR_UPSTREAM_CONNECT_TIMEOUT', `connect to ${server.address} timed out after ${connectMs} ms`)),
      connectMs,
    );
    socket.once('connect', () => {
      clearTimeout(at.connectTimer);
      at.connected = true;
      if (readMs > 0) {
        socket.setTimeout(readMs);
        socket.on('timeout', at.onTimeout);
      }
    });
    request.on('upgrade', (res: IncomingMessage, upstream: Socket, upstreamHead: Buffer) => this.onUpgrade(at, res, upstream, upstreamHead));
    request.on('response', (res: IncomingMessage) => this.onResponse(at, res));
    request.on('error', (err: Error) => this.onAttemptError(at, err));
    request.end();
  }

  /** `101 Switching Protocols`: relay its head, then pipe both connections. */
  private onUpgrade(at: UpgradeAttempt, res: IncomingMessage, upstream: Socket, upstreamHead: Buffer): void {
    if (at !== this.current || this.phase !== 'waiting') {
      upstream.destroy();
      return;
    }
    this.phase = 'tunnel';
    upstream.removeListener('timeout', at.onTimeout);
    const { client } = this;
    const headers = buildClientResponseHeaders(res.rawHeaders).headers;
    headers.push('Connection', 'Upgrade');
    if (res.headers.upgrade !== undefined) headers.push('Upgrade', res.headers.upgrade);
    this.pool.sticky?.applyToResponse(headers, 101, this.req.method, at.server, this.pinned);
    this.rules?.apply(headers);
    client.write(responseHead(101, res.statusMessage || 'Switching Protocols', headers), 'latin1');
    if (upstreamHead.length > 0) client.write(upstreamHead);
    if (this.clientHead.length > 0) upstream.write(this.clientHead);
    const idleMs = this.pool.tunnelTimeoutMs;
    // Every byte either way is a read on one socket and a write on the other, so each
    // socket's idle timer sees all traffic: it fires only when the tunnel is idle.
    client.setTimeout(idleMs);
    upstream.setTimeout(idleMs);
    const onIdle = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('timeout', onIdle);
    upstream.on('timeout', onIdle);
    upstream.on('close', () => {
      if (this.phase !== 'tunnel') return;
      this.finish(false);
      client.destroySoon();
    });
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Any final status but 101: retried if `retry_on` says so, else relayed and the connection closed. */
  private onResponse(at: UpgradeAttempt, res: IncomingMessage): void {
    res.on('error', ignoreError);
    if (at !== this.current || this.phase !== 'waiting') {
      res.destroy();
      return;
    }
    const status = res.statusCode ?? 502;
    const server = at.server;
    const pool = this.pool;
    const failed = pool.failOnStatus !== undefined && pool.failOnStatus.has(status);
    const retryStatuses = pool.retryPolicy.statuses;
    if (retryStatuses !== undefined && retryStatuses.has(status) && this.attempts < pool.maxAttempts && isRetryableStatus(status, this.retryFacts(), pool.retryPolicy)) {
      const next = this.retryTarget(server);
      if (next !== undefined) {
        const error = new LbError('LB_ERR_UPSTREAM_STATUS', `${server.address} answered ${status}`);
        this.lastError = error;
        this.dropAttempt(at, true);
        if (failed) pool.reportFailure(server, `status ${status}`);
        this.report(server, error, true, null);
        this.attempt(next);
        return;
      }
    }
    if (failed) {
      server.failures++;
      // The response being relayed is not cut by an ejection it causes itself.
      server.sessions?.delete(this);
      pool.reportFailure(server, `status ${status}`);
    }
    this.relay(at, res, status);
  }

  private relay(at: UpgradeAttempt, res: IncomingMessage, status: number): void {
    this.phase = 'relaying';
    const { client } = this;
    const { headers, hasDate } = buildClientResponseHeaders(res.rawHeaders);
    this.pool.sticky?.applyToResponse(headers, status, this.req.method, at.server, this.pinned);
    this.rules?.apply(headers);
    if (!hasDate) headers.push('Date', new Date().toUTCString());
    // Transfer-Encoding is hop-by-hop and gone: without a Content-Length the body ends with the connection.
    headers.push('Connection', 'close');
    client.write(responseHead(status, res.statusMessage ?? '', headers), 'latin1');
    const done = (): void => {
      if (this.phase !== 'relaying') return;
      this.finish(false);
      at.socket.destroy();
      lingerOnClose(client);
      client.destroySoon();
      client.resume();
    };
    const bodyless = this.req.method === 'HEAD' || status === 204 || status === 304;
    if (bodyless) {
      res.resume();
      done();
      return;
    }
    res.on('end', done);
    res.on('close', () => {
      if (!res.complete) this.onAttemptError(at, Object.assign(new Error('upstream closed the connection mid-response'), { code: 'ECONNRESET' }));
    });
    res.pipe(client, { end: false });
  }

  private onAttemptError(at: UpgradeAttempt, err: Error): void {
    if (at !== this.current || (this.phase !== 'waiting' && this.phase !== 'relaying')) return;
    const server = at.server;
    const error = toUpstreamError(err, { connected: at.connected, server: server.address });
    if (this.phase === 'relaying') {
      // Too late for a status: the response has started; cut the client off.
      this.report(server, error, false, null);
      this.finish(true);
      at.socket.destroy();
      this.client.destroy();
      return;
    }
    this.dropAttempt(at, true);
    this.lastError = error;
    const pool = this.pool;
    const facts = this.retryFacts();
    if (pool.passive !== undefined && isServerFailure(error, facts)) pool.reportFailure(server, error.message);
    let next: UpstreamServer | AllBusy | undefined;
    if (isRetryableUpstreamError(error, facts, pool.retryPolicy) && this.attempts < pool.maxAttempts) next = this.retryTarget(server);
    this.report(server, error, next !== undefined, next === undefined ? upstreamErrorStatus(error) : null);
    if (next === undefined) {
      this.fail(error);
      return;
    }
    this.attempt(next);
  }

  /** on_marked_down: shutdown_sessions: both connections go at once, tunnel or not. */
  abortSession(reason: string): void {
    const at = this.current;
    if (this.phase === 'done') return;
    if (at !== undefined) {
      this.report(at.server, new LbError('LB_ERR_SESSION_SHUTDOWN', `${at.server.address} was marked down (${reason}); session cut`), false, null);
    }
    this.destroy();
  }

  /** Destroys both connections without a word (the LB is closing, or the session was cut). */
  destroy(): void {
    const at = this.current;
    this.finish(false);
    at?.request.destroy();
    at?.socket.destroy();
    this.client.destroy();
  }

  private onClientClose(): void {
    const at = this.current;
    if (this.phase === 'done') return;
    const tunnel = this.phase === 'tunnel';
    this.finish(false);
    if (at === undefined) return;
    // In a tunnel, what the client sent last still goes out before the upstream side closes.
    if (tunnel) at.socket.destroySoon();
    else {
      at.request.destroy();
      at.socket.destroy();
    }
  }

  private retryFacts(): RetryFacts {
    // Upgrade requests carry no body (the handler refuses those that announce one).
    return { reusedSocket: false, replayableBody: true, idempotent: IDEMPOTENT_METHODS.has(this.req.method ?? '') };
  }

  /** The server for a retry after `failed`: another one (redispatch), or the same one while it still takes traffic; ALL_BUSY queues. */
  private retryTarget(failed: UpstreamServer): UpstreamServer | AllBusy | undefined {
    if (!this.pool.redispatch) return failed.available ? failed : undefined;
    (this.tried ??= new Set()).add(failed);
    return this.pool.acquire(this.tried, this.req, this.pinned);
  }

  pickFromQueue(): UpstreamServer | AllBusy | undefined {
    return this.pool.acquire(this.tried, this.req, this.pinned);
  }

  leaveQueue(server: UpstreamServer | undefined): void {
    this.queued = false;
    if (this.phase !== 'waiting') return;
    if (server === undefined) this.fail(this.lastError ?? new LbError('LB_ERR_NO_SERVER_AVAILABLE', `no server of upstream ${this.pool.name} is available`));
    else this.attempt(server);
  }

  queueTimedOut(): void {
    this.queued = false;
    if (this.phase !== 'waiting') return;
    this.fail(new LbError('LB_ERR_QUEUE_TIMEOUT', `waited ${this.pool.queue?.timeoutMs ?? 0} ms in the queue of upstream ${this.pool.name} for a server below max_conn`));
  }

  /** Gives up on an attempt that will be retried or answered by the LB. */
  private dropAttempt(at: UpgradeAttempt, failed: boolean): void {
    this.current = undefined;
    clearTimeout(at.connectTimer);
    at.server.sessions?.delete(this);
    at.server.onRequestEnd(failed);
    at.request.destroy();
    at.socket.destroy();
  }

  /** Answers the client with the status for `error` (no response has started) and closes. */
  private fail(error: LbError): void {
    const code = error.code;
    if (code === 'LB_ERR_NO_SERVER_AVAILABLE' || code === 'LB_ERR_QUEUE_FULL' || code === 'LB_ERR_QUEUE_TIMEOUT') this.report(undefined, error, false, 503);
    this.finish(false);
    this.local(upstreamErrorStatus(error));
  }

  /** A response of the LB's own, with the route's header rules, then close. */
  private local(status: number): void {
    sendLocalSocketResponse(this.client, status, this.req.method, this.rules === undefined ? undefined : { rules: this.rules });
  }

  /** The exchange is over: its server stops counting it; later callbacks are ignored. Sockets are the caller's. */
  private finish(failed: boolean): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    this.registry.delete(this);
    if (this.queued) {
      this.queued = false;
      this.pool.queue?.remove(this);
    }
    const at = this.current;
    this.current = undefined;
    if (at === undefined) return;
    clearTimeout(at.connectTimer);
    at.server.sessions?.delete(this);
    at.server.onRequestEnd(failed);
  }

  private report(server: UpstreamServer | undefined, error: LbError, retry: boolean, status: number | null): void {
    reportUpstreamError(this.ctx, this.pool.name, this.req, server, error, retry, status);
  }
}

/** A status line and header block, ready to write (values come from node's parser: no CR/LF). */
function responseHead(status: number, statusText: string, headers: readonly string[]): string {
  let text = `HTTP/1.1 ${status} ${statusText}\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${text}\r\n`;
}
