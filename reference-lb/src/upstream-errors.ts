import type { IncomingMessage } from 'node:http';
import type { ListenerContext } from './proxy-handler.ts';
import type { UpstreamServer } from './upstream-server.ts';
import { LbError, isLbError, type LbErrorCode } from './errors.ts';

/*
 * The one place where upstream failures become status codes, modelled on
 * fastify-reply-from's lib/errors.js: every failure is first classified into an
 * LbError with a stable code (original error as `cause`), then the code decides the
 * status and whether another server may be tried.
 */

/** Codes an upstream attempt can fail with. */
export type UpstreamErrorCode = Extract<
  LbErrorCode,
  | 'LB_ERR_NO_SERVER_AVAILABLE'
  | 'LB_ERR_UPSTREAM_CONNECT'
  | 'LB_ERR_UPSTREAM_CONNECT_TIMEOUT'
  | 'LB_ERR_UPSTREAM_RESET'
  | 'LB_ERR_UPSTREAM_READ_TIMEOUT'
  | 'LB_ERR_UPSTREAM_PROTOCOL'
  | 'LB_ERR_UPSTREAM_STATUS'
  | 'LB_ERR_QUEUE_FULL'
  | 'LB_ERR_QUEUE_TIMEOUT'
>;

const STATUS: Readonly<Record<UpstreamErrorCode, 502 | 503 | 504>> = {
  LB_ERR_NO_SERVER_AVAILABLE: 503,
  LB_ERR_UPSTREAM_CONNECT: 502,
  LB_ERR_UPSTREAM_CONNECT_TIMEOUT: 504,
  LB_ERR_UPSTREAM_RESET: 502,
  LB_ERR_UPSTREAM_READ_TIMEOUT: 504,
  LB_ERR_UPSTREAM_PROTOCOL: 502,
  LB_ERR_UPSTREAM_STATUS: 502,
  // HAProxy answers 503 both when the queue is full and when `timeout queue` expires.
  LB_ERR_QUEUE_FULL: 503,
  LB_ERR_QUEUE_TIMEOUT: 503,
};

const CONNECT_ERRNOS: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Where the attempt was when it failed. */
export interface FailurePoint {
  /** The connection to the upstream was established and the request was being written. */
  connected: boolean;
  /** `host:port` of the server, for the message. */
  server: string;
}

/** Classifies any error from an upstream attempt (node errno or undici UND_ERR_* code); LbErrors pass through unchanged. */
export function toUpstreamError(err: unknown, at: FailurePoint): LbError {
  if (isLbError(err)) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  const detail = (err as Error | undefined)?.message ?? String(err);
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || (!at.connected && code === 'ETIMEDOUT')) {
    return new LbError('LB_ERR_UPSTREAM_CONNECT_TIMEOUT', `connect to ${at.server} timed out: ${detail}`, { cause: err });
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new LbError('LB_ERR_UPSTREAM_READ_TIMEOUT', `${at.server} went silent: ${detail}`, { cause: err });
  }
  // undici's HTTPParserError often has no code (its llhttp error table is looked up the wrong way round), hence the name.
  const name = (err as Error | undefined)?.name;
  if (code.startsWith('HPE_') || name === 'HTTPParserError' || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_HEADERS_OVERFLOW') {
    return new LbError('LB_ERR_UPSTREAM_PROTOCOL', `invalid response from ${at.server}: ${detail}`, { cause: err });
  }
  if (!at.connected && (CONNECT_ERRNOS.has(code) || !code.startsWith('UND_ERR_'))) {
    return new LbError('LB_ERR_UPSTREAM_CONNECT', `connect to ${at.server} failed: ${detail}`, { cause: err });
  }
  return new LbError('LB_ERR_UPSTREAM_RESET', `connection to ${at.server} failed: ${detail}`, { cause: err });
}

/** The status a client gets for an upstream failure (502 Bad Gateway, 503 Service Unavailable, 504 Gateway Timeout). */
export function upstreamErrorStatus(err: LbError): 502 | 503 | 504 {
  return STATUS[err.code as UpstreamErrorCode] ?? 502;
}

/** What is known about an attempt when deciding whether to try another server. */
export interface RetryFacts {
  /** The request went out on a pooled connection that was already used. */
  reusedSocket: boolean;
  /** The body (if any) can be sent again: none, or spooled by request buffering, or not read yet. */
  replayableBody: boolean;
  /** GET, HEAD, PUT, DELETE, OPTIONS or TRACE (RFC 9110 §9.2.2). */
  idempotent: boolean;
}

/** Which failures an upstream retries (config `retry_on`). */
export interface RetryPolicy {
  /** Connect refused, reset or unreachable, and connect timeouts. */
  connectFailure: boolean;
  /** A new connection reset or closed before the response head. */
  reset: boolean;
  /** Read timeout before the response head. */
  timeout: boolean;
  /** An invalid response head (nginx `invalid_header`). */
  invalidHeader: boolean;
  /** Response statuses that are retried; undefined when none are. */
  statuses: ReadonlySet<number> | undefined;
}

/** `retry_on: [connect_failure]`, the default. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { connectFailure: true, reset: false, timeout: false, invalidHeader: false, statuses: undefined };

/** The config's `retry_on` list as a policy. */
export function retryPolicyFrom(retryOn: readonly (string | number)[]): RetryPolicy {
  const statuses = retryOn.filter((e): e is number => typeof e === 'number');
  return {
    connectFailure: retryOn.includes('connect_failure'),
    reset: retryOn.includes('reset'),
    timeout: retryOn.includes('timeout'),
    invalidHeader: retryOn.includes('invalid_header'),
    statuses: statuses.length > 0 ? new Set(statuses) : undefined,
  };
}

/**
 * True when another attempt may follow a failed one. Connect failures never reached the
 * upstream application, so they are safe for any request (the client's body is not read
 * before the connection is up). A reset on a reused pooled connection is the keep-alive
 * race and always retried for idempotent requests with a replayable body. Resets, read
 * timeouts and invalid response heads otherwise may mean the upstream did the work: only
 * when `retry_on` names them, and then only for idempotent requests whose body can be
 * sent again.
 */
export function isRetryableUpstreamError(err: LbError, facts: RetryFacts, policy: RetryPolicy = DEFAULT_RETRY_POLICY): boolean {
  const replayable = facts.replayableBody && facts.idempotent;
  switch (err.code) {
    case 'LB_ERR_UPSTREAM_CONNECT':
    case 'LB_ERR_UPSTREAM_CONNECT_TIMEOUT':
      return policy.connectFailure;
    case 'LB_ERR_UPSTREAM_RESET':
      return replayable && (facts.reusedSocket || policy.reset);
    case 'LB_ERR_UPSTREAM_READ_TIMEOUT':
      return replayable && policy.timeout;
    case 'LB_ERR_UPSTREAM_PROTOCOL':
      return replayable && policy.invalidHeader;
    default:
      return false;
  }
}

/** True when a response status is retried: named in `retry_on`, idempotent method, body replayable (none or spooled). */
export function isRetryableStatus(status: number, facts: RetryFacts, policy: RetryPolicy): boolean {
  return policy.statuses !== undefined && policy.statuses.has(status) && facts.idempotent && facts.replayableBody;
}

/** True for a reset on a reused pooled connection: retried without using up a retry (nginx does the same). */
export function isStaleConnectionError(err: LbError, facts: RetryFacts): boolean {
  return err.code === 'LB_ERR_UPSTREAM_RESET' && facts.reusedSocket && facts.replayableBody && facts.idempotent;
}

/**
 * Failures that count towards passive ejection (nginx `max_fails` counts `error` and
 * `timeout`): connect failures and timeouts, read timeouts, resets and invalid
 * responses before the response head. Not the keep-alive race, which says nothing
 * about the server.
 */
export function isServerFailure(err: LbError, facts: RetryFacts): boolean {
  switch (err.code) {
    case 'LB_ERR_UPSTREAM_CONNECT':
    case 'LB_ERR_UPSTREAM_CONNECT_TIMEOUT':
    case 'LB_ERR_UPSTREAM_READ_TIMEOUT':
    case 'LB_ERR_UPSTREAM_PROTOCOL':
      return true;
    case 'LB_ERR_UPSTREAM_RESET':
      return !isStaleConnectionError(err, facts);
    default:
      return false;
  }
}

/** Emits the `upstream-error` event of one failed attempt (README.md, "Process protocol"); HTTP and Upgrade exchanges share it. */
export function reportUpstreamError(
  ctx: Pick<ListenerContext, 'onEvent' | 'listenerName'>,
  upstream: string,
  req: Pick<IncomingMessage, 'method' | 'url'>,
  server: Pick<UpstreamServer, 'address'> | undefined,
  error: LbError,
  retry: boolean,
  status: number | null,
): void {
  ctx.onEvent?.({
    event: 'upstream-error',
    listener: ctx.listenerName,
    upstream,
    server: server?.address ?? '',
    code: error.code,
    message: error.message,
    method: req.method ?? '',
    url: req.url ?? '',
    retry,
    status,
  });
}
