import diagnosticsChannel from 'node:diagnostics_channel';
import type { Readable } from 'node:stream';
import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import type { ClientLimits, ConfigStatement } from '../targets/config-plan.ts';

/** A listener of the LB under test, as the client reaches it. */
export interface Endpoint {
  host: string;
  port: number;
  tls: boolean;
  /** Host header and TLS SNI the client sends (the config's server name, or localhost). */
  serverName: string;
  /** the port as written in the config, e.g. 443. */
  originalPort: number;
  /** the address as written, where listeners on this port name different ones. */
  originalAddress?: string;
  /** the config's pools this listener routes to, where the config says (ListenerRef.pools). */
  pools?: string[];
  /** what the config says about TLS versions for this listener, with its line; undefined = the TLS library's defaults. */
  tlsProtocols?: ConfigStatement;
  /** the listener's read timeouts and header size limit as the config sets them (its first server block, frontend or vhost on this port). */
  limits?: ClientLimits;
}

/** One request through the LB. */
export interface LbRequest {
  method?: string;
  /** raw path and query, sent byte for byte. */
  path: string;
  headers?: Record<string, string>;
  body?: Readable | string | Buffer;
  /** abort the request after this long (default 30 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What the client saw; `error` is set when no response arrived. */
export interface LbResponse {
  status?: number;
  headers: Record<string, string | string[] | undefined>;
  /** body as text, capped (see textLimitBytes). */
  text: string;
  error?: { kind: ErrorKind; code: string; message: string };
  durationMs: number;
  /** the request was sent again after its keep-alive connection closed unanswered (see `retryOnKeepAliveClose`). */
  retriedAfter?: { kind: ErrorKind; connectionUse: number };
}

/**
 * Which request of its connection each tracked request was (1 = a new connection), by
 * X-Lbdrill-Id, from undici's diagnostics channel: the only place that knows the socket.
 */
const connectionUses = new Map<string, number>();
const usesBySocket = new WeakMap<object, number>();
diagnosticsChannel.subscribe('undici:client:sendHeaders', (message) => {
  const { request, socket } = message as { request: { headers?: unknown }; socket: object };
  const use = (usesBySocket.get(socket) ?? 0) + 1;
  usesBySocket.set(socket, use);
  const headers = Array.isArray(request.headers) ? (request.headers as string[]) : [];
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() === 'x-lbdrill-id' && connectionUses.has(headers[i + 1]!)) connectionUses.set(headers[i + 1]!, use);
  }
});

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/** How a request failed, in words a report reader understands. */
export type ErrorKind = 'closed-without-response' | 'reset' | 'refused' | 'timeout' | 'tls' | 'other';

const DEFAULT_TIMEOUT_MS = 30_000;
const TEXT_LIMIT_BYTES = 256 * 1024;

export function classifyError(err: unknown): { kind: ErrorKind; code: string; message: string } {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code ?? 'UNKNOWN';
  const message = e.message ?? String(err);
  let kind: ErrorKind = 'other';
  if (code === 'UND_ERR_SOCKET' || /other side closed/i.test(message)) kind = 'closed-without-response';
  else if (code === 'ECONNRESET' || code === 'EPIPE') kind = 'reset';
  else if (code === 'ECONNREFUSED') kind = 'refused';
  else if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR' || code === 'UND_ERR_CONNECT_TIMEOUT')
    kind = 'timeout';
  else if (/^ERR_TLS|CERT|SSL|EPROTO/.test(code) || /certificate|ssl|tls/i.test(message)) kind = 'tls';
  return { kind, code, message };
}

/**
 * lbdrill's HTTP client towards the LB under test: keep-alive connections per endpoint,
 * TLS verified against lbdrill's own CA only, a fixed client source address (so the
 * backend can tell the client's address from the LB's), and raw paths.
 */
export class LbClient implements AsyncDisposable {
  readonly #clients = new Map<string, Pool>();
  /** lbdrill's CA certificate, the only one this client trusts. */
  readonly caPem: string;
  /** source address of every connection, e.g. 127.0.9.9; undefined: the system's choice (a deployed LB lbdrill did not start). */
  readonly localAddress: string | undefined;
  /** skip certificate verification: a deployment file's `insecure: true`, for staging LBs with self-signed certificates. */
  readonly #insecure: boolean;

  constructor(options: { ca: string; localAddress?: string; insecure?: boolean }) {
    this.caPem = options.ca;
    this.localAddress = options.localAddress;
    this.#insecure = options.insecure === true;
  }

  /** A keep-alive undici Pool for an endpoint (shared across requests). */
  clientFor(endpoint: Endpoint, options: { fresh?: boolean } = {}): Pool {
    const key = `${endpoint.tls ? 'https' : 'http'}://${endpoint.host}:${endpoint.port}/${endpoint.serverName}`;
    const existing = options.fresh ? undefined : this.#clients.get(key);
    if (existing && !existing.destroyed && !existing.closed) return existing;
    const client = new Pool(`${endpoint.tls ? 'https' : 'http'}://${endpoint.host}:${endpoint.port}`, {
      connect: {
        ca: this.caPem,
        servername: endpoint.serverName,
        rejectUnauthorized: !this.#insecure,
      },
      ...(this.localAddress !== undefined ? { localAddress: this.localAddress } : {}),
      // a fresh client is for one request whose connection the LB may close
      connections: options.fresh ? 1 : 16,
      // Long transfers and idle gaps are what we test: undici must not time out first.
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: 4_000,
      pipelining: 1,
    });
    if (!options.fresh) this.#clients.set(key, client);
    return client;
  }

  /**
   * Sends a request and reads a capped text body. Network failures are returned, not thrown.
   * `retryOnKeepAliveClose`: an idempotent request without a streamed body, sent on a reused
   * keep-alive connection that the server closed before any answer, is sent once more, as
   * RFC 9112 §9.3.1 allows and browsers do (the server may close an idle connection just as
   * the request leaves: a graceful reload does). The response says so in `retriedAfter`.
   */
  async send(endpoint: Endpoint, req: LbRequest, options: { fresh?: boolean; retryOnKeepAliveClose?: boolean } = {}): Promise<LbResponse> {
    const id = req.headers?.['x-lbdrill-id'];
    const retryable = options.retryOnKeepAliveClose === true && id !== undefined && IDEMPOTENT.has(req.method ?? 'GET') && (req.body === undefined || typeof req.body === 'string' || Buffer.isBuffer(req.body));
    if (!retryable) return this.#sendOnce(endpoint, req, options);
    connectionUses.set(id, 0);
    let res: LbResponse;
    let use: number;
    try {
      res = await this.#sendOnce(endpoint, req, options);
    } finally {
      use = connectionUses.get(id) ?? 0;
      connectionUses.delete(id);
    }
    const closedUnanswered = res.error && (res.error.kind === 'closed-without-response' || res.error.kind === 'reset');
    if (!closedUnanswered || use < 2) return res;
    const again = await this.#sendOnce(endpoint, req, options);
    return { ...again, durationMs: res.durationMs + again.durationMs, retriedAfter: { kind: res.error!.kind, connectionUse: use } };
  }

  async #sendOnce(endpoint: Endpoint, req: LbRequest, options: { fresh?: boolean }): Promise<LbResponse> {
    const started = performance.now();
    const client = this.clientFor(endpoint, options);
    const timeout = AbortSignal.timeout(req.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const signal = req.signal ? AbortSignal.any([timeout, req.signal]) : timeout;
    try {
      const res = await client.request({
        method: (req.method ?? 'GET') as 'GET',
        path: req.path,
        headers: { host: hostHeader(endpoint), ...req.headers },
        body: req.body ?? null,
        signal,
      });
      let text = '';
      for await (const chunk of res.body) {
        if (text.length < TEXT_LIMIT_BYTES) text += (chunk as Buffer).toString('utf8');
      }
      return { status: res.statusCode, headers: res.headers, text, durationMs: performance.now() - started };
    } catch (err) {
      return { headers: {}, text: '', error: classifyError(err), durationMs: performance.now() - started };
    } finally {
      // An LB that answers before the upload is done (413, 502) leaves the body stream
      // paused forever: end it, so its producer stops too.
      if (req.body && typeof req.body === 'object' && 'destroy' in req.body) req.body.destroy();
      if (options.fresh) await client.close().catch(() => client.destroy());
    }
  }

  /**
   * Sends a request and hands back the live response for the caller to stream; throws
   * undici's error when no response arrives.
   */
  async open(endpoint: Endpoint, req: LbRequest): Promise<Dispatcher.ResponseData> {
    const client = this.clientFor(endpoint);
    const timeout = AbortSignal.timeout(req.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const signal = req.signal ? AbortSignal.any([timeout, req.signal]) : timeout;
    return client.request({
      method: (req.method ?? 'GET') as 'GET',
      path: req.path,
      headers: { host: hostHeader(endpoint), ...req.headers },
      body: req.body ?? null,
      signal,
    });
  }

  async close(): Promise<void> {
    const all = [...this.#clients.values()];
    this.#clients.clear();
    await Promise.allSettled(all.map((c) => c.destroy()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Host header for an endpoint: the server name, with the port when it is not the scheme default. */
export function hostHeader(endpoint: Endpoint): string {
  return endpoint.serverName;
}
