/**
 * One simulated frontend on a WebSocket through the LB: it keeps a cookie jar, learns its
 * backend from the backend's hello, sends numbered messages and counts their echoes, and when
 * cut reconnects with exponential backoff, recording how long it was away and where it landed.
 */
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import WebSocket from 'ws';
import type { ClientOptions } from 'ws';
import { LBDRILL_HEADERS } from '../../fixtures/backend/control-headers.ts';
import type { BackendWsHello, BackendWsMessage } from '../../fixtures/backend/websocket-session.ts';
import { LbdrillError } from '../errors.ts';
import { CookieJar } from './cookie-jar.ts';
import { ExponentialBackoff } from './exponential-backoff.ts';
import type { BackoffOptions } from './exponential-backoff.ts';

/** Disconnect records kept per client (newest); the fleet's counters and histogram see all. */
const MAX_DISCONNECT_RECORDS = 256;
/** A backend that stops echoing must not grow the pending map without bound. */
const MAX_PENDING_ECHOES = 1000;
/** Skip a send rather than queue behind a stalled connection. */
const MAX_BUFFERED_BYTES = 256 * 1024;
/** Backend messages are small JSON. */
const MAX_PAYLOAD_BYTES = 1024 * 1024;
const DEFAULT_CLOSE_TIMEOUT_MS = 2000;

/** Epoch milliseconds on the monotonic clock, as backend records use. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Options of one client. */
export interface WsClientOptions {
  /** Position in the fleet; also sent in every message. */
  index: number;
  /** ws:// or wss:// URL with path and query. */
  url: string;
  /** PEM of the only CA trusted for wss (required for wss). */
  ca?: string;
  /** TLS SNI and Host header (Host keeps the URL's when unset). */
  serverName?: string;
  /** Source address of every connection, e.g. 127.0.5.7. */
  localAddress?: string;
  headers?: Readonly<Record<string, string>>;
  /** Cookies in the jar before the first connect. */
  cookies?: Readonly<Record<string, string>>;
  /** Ask the backend for a push this often (X-Lbdrill-Push-Ms). */
  pushMs?: number;
  /** Send a numbered text message this often while connected. */
  sendEveryMs?: number;
  backoff: BackoffOptions;
  /** Seeded source of the backoff jitter and the send phase. */
  random: () => number;
  /** From the start of an attempt to the backend's hello. */
  connectTimeoutMs: number;
  /**
   * Cut a connection on which nothing arrived for this long while something was due (a push,
   * or an echo of a sent message), as a frontend heartbeat would. Unset: never.
   */
  silenceTimeoutMs?: number;
  /** close(): wait this long for the close handshake before dropping the socket; default 2 s. */
  closeTimeoutMs?: number;
}

/** idle: not started; backoff: waiting to reconnect; closed: close() was called. */
export type WsClientState = 'idle' | 'connecting' | 'open' | 'backoff' | 'closed';

/** One cut of an established connection and, once it happens, the reconnect that followed. */
export interface WsDisconnect {
  atMs: number;
  backendBefore: string;
  /** 'silence', a socket error code (ECONNRESET), or `close-<code>` for a close without error. */
  reason: string;
  closeCode: number;
  /** Echoes still due on the cut connection. */
  lostMessages: number;
  /** How long the cut connection had been up, hello to cut. */
  connectionMs: number;
  /** Attempts the reconnect took (1: the first one succeeded). */
  attempts?: number;
  reconnectedAtMs?: number;
  /** Cut to the next hello. */
  reconnectMs?: number;
  backendAfter?: string;
}

/** A connect attempt that ended without a hello. */
export interface WsAttemptFailure {
  atMs: number;
  /** 'timeout', `http-<status>` (the LB answered instead of upgrading), or a socket/TLS error code. */
  reason: string;
  status?: number;
  /** Failed attempts in a row, this one included. */
  consecutive: number;
  nextDelayMs: number;
}

/** Message counts over every connection of a client. */
export interface WsClientCounters {
  /** Numbered messages sent. */
  sent: number;
  /** Messages from backends, hellos included. */
  received: number;
  echoes: number;
  pushes: number;
  /** Sent messages whose echo never came because the connection died. */
  lost: number;
  /** Backend messages missing from the seq sequence within one connection. */
  seqGaps: number;
  /** Sends skipped because the connection was backed up or too many echoes were due. */
  skipped: number;
  /** Messages that were not a backend's JSON. */
  malformed: number;
}

/** Events of WsClient.events. */
export interface WsClientEvents {
  /** A hello arrived; `after` is the disconnect this connection ends, if any. */
  connected: [hello: BackendWsHello, after: WsDisconnect | undefined];
  disconnected: [WsDisconnect];
  'attempt-failed': [WsAttemptFailure];
  message: [BackendWsMessage];
}

interface OpenConnection {
  ws: WebSocket;
  hello: BackendWsHello;
  connectedAtMs: number;
  lastSeq: number;
  lastHeardAtMs: number;
}

function errorCode(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' && code !== '' ? code : err.message;
}

function parseMessage(data: WebSocket.RawData): BackendWsMessage | undefined {
  try {
    const msg = JSON.parse(String(data)) as Partial<BackendWsMessage> | null;
    if (msg && typeof msg.type === 'string' && typeof msg.backend === 'string' && typeof msg.seq === 'number') return msg as BackendWsMessage;
  } catch {
    // counted as malformed below
  }
  return undefined;
}

/** A reconnecting WebSocket client; start() once, close() at the end. */
export class WsClient implements AsyncDisposable {
  readonly index: number;
  readonly url: string;
  readonly localAddress: string | undefined;
  readonly cookies: CookieJar;
  readonly events = new EventEmitter<WsClientEvents>();
  /** Newest MAX_DISCONNECT_RECORDS cuts, oldest first. */
  readonly disconnects: WsDisconnect[] = [];
  readonly counters: WsClientCounters = { sent: 0, received: 0, echoes: 0, pushes: 0, lost: 0, seqGaps: 0, skipped: 0, malformed: 0 };
  /** Hellos received (first connect included). */
  connects = 0;
  failedAttempts = 0;
  /** Reason of the last failed attempt or cut. */
  lastError: string | undefined;
  lastHello: BackendWsHello | undefined;
  /** Set-Cookie values of the last upgrade response (or refusal). */
  lastSetCookie: readonly string[] = [];

  readonly #opts: WsClientOptions;
  readonly #backoff: ExponentialBackoff;
  #state: WsClientState = 'idle';
  #ws: WebSocket | undefined;
  #open: OpenConnection | undefined;
  /** Why the current socket is going away, when this side knows first (timeout, silence, http-503). */
  #reason: string | undefined;
  #failures = 0;
  #cut: WsDisconnect | undefined;
  #attemptsSinceCut = 0;
  #pending = new Map<number, number>();
  #messageId = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #sendTimer: NodeJS.Timeout | undefined;
  #silenceTimer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  constructor(opts: WsClientOptions) {
    let url: URL;
    try {
      url = new URL(opts.url);
    } catch (err) {
      throw new LbdrillError('LBDRILL_ERR_USAGE', `ws client ${opts.index}: url: not a URL: ${opts.url}`, { cause: err });
    }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new LbdrillError('LBDRILL_ERR_USAGE', `ws client ${opts.index}: url: expected ws: or wss:, got ${url.protocol}`);
    if (url.protocol === 'wss:' && opts.ca === undefined) throw new LbdrillError('LBDRILL_ERR_USAGE', `ws client ${opts.index}: ca: required for wss (the client trusts only lbdrill's CA)`);
    this.#opts = opts;
    this.index = opts.index;
    this.url = url.href;
    this.localAddress = opts.localAddress;
    this.cookies = new CookieJar(opts.cookies);
    this.#backoff = new ExponentialBackoff(opts.backoff, opts.random);
  }

  get state(): WsClientState {
    return this.#state;
  }

  /** The backend of the current connection. */
  get backend(): string | undefined {
    return this.#open?.hello.backend;
  }

  /** When the current connection's hello arrived. */
  get connectedAtMs(): number | undefined {
    return this.#open?.connectedAtMs;
  }

  /** The cut waiting for its reconnect, if any. */
  get pendingDisconnect(): WsDisconnect | undefined {
    return this.#cut;
  }

  get pendingEchoes(): number {
    return this.#pending.size;
  }

  /** Makes the first attempt; resolves when it has a hello or has failed (the client then keeps retrying). */
  start(): Promise<void> {
    if (this.#state !== 'idle') return Promise.resolve();
    return this.#connect();
  }

  /** Sends one numbered message if connected; false when skipped. */
  send(): boolean {
    const open = this.#open;
    if (!open || open.ws.readyState !== WebSocket.OPEN) return false;
    if (this.#pending.size >= MAX_PENDING_ECHOES || open.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.counters.skipped++;
      return false;
    }
    const id = ++this.#messageId;
    const t = nowMs();
    this.#pending.set(id, t);
    open.ws.send(JSON.stringify({ id, client: this.index, t }));
    this.counters.sent++;
    return true;
  }

  /** Stops reconnecting and closes the connection (close frame, then the socket after closeTimeoutMs). */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(): Promise<void> {
    this.#state = 'closed';
    clearTimeout(this.#retryTimer);
    this.#stopConnectionTimers();
    const ws = this.#ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    if (ws.readyState === WebSocket.OPEN) {
      ws.close(1000, 'lbdrill done');
      const timer = setTimeout(() => ws.terminate(), this.#opts.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
      await closed;
      clearTimeout(timer);
    } else {
      ws.terminate();
      await closed;
    }
  }

  #connect(): Promise<void> {
    this.#state = 'connecting';
    this.#reason = undefined;
    if (this.#cut) this.#attemptsSinceCut++;
    const o = this.#opts;
    const headers: Record<string, string> = { ...o.headers };
    const cookie = this.cookies.header();
    if (cookie !== undefined) headers.cookie = cookie;
    if (o.serverName !== undefined) headers.host = o.serverName;
    if (o.pushMs !== undefined) headers[LBDRILL_HEADERS.pushMs] = String(o.pushMs);
    const options: ClientOptions & { servername?: string } = {
      headers,
      perMessageDeflate: false,
      followRedirects: false,
      maxPayload: MAX_PAYLOAD_BYTES,
      rejectUnauthorized: true,
      ...(o.ca !== undefined ? { ca: o.ca } : {}),
      // SNI carries host names only (RFC 6066 §3).
      ...(o.serverName !== undefined && isIP(o.serverName) === 0 ? { servername: o.serverName } : {}),
      ...(o.localAddress !== undefined ? { localAddress: o.localAddress } : {}),
    };
    const ws = new WebSocket(this.url, options);
    this.#ws = ws;
    let status: number | undefined;

    return new Promise<void>((settle) => {
      const connectTimer = setTimeout(() => {
        this.#reason ??= 'timeout';
        ws.terminate();
      }, o.connectTimeoutMs);
      ws.on('upgrade', (res) => {
        this.#storeCookies(res.headers['set-cookie']);
      });
      ws.on('unexpected-response', (_req, res) => {
        status = res.statusCode;
        this.#reason ??= `http-${res.statusCode ?? 0}`;
        this.#storeCookies(res.headers['set-cookie']);
        res.resume();
        ws.terminate();
      });
      ws.on('error', (err) => {
        this.#reason ??= errorCode(err);
      });
      ws.on('message', (data) => {
        const msg = parseMessage(data);
        if (!msg) {
          this.counters.malformed++;
          return;
        }
        if (!this.#open && msg.type === 'hello') {
          clearTimeout(connectTimer);
          this.#onHello(ws, msg);
          settle();
          return;
        }
        this.#onMessage(msg);
      });
      ws.once('close', (code) => {
        clearTimeout(connectTimer);
        if (this.#ws === ws) this.#ws = undefined;
        if (this.#state !== 'closed') {
          if (this.#open?.ws === ws) this.#onCut(code, this.#reason ?? `close-${code}`);
          else this.#onAttemptFailed(this.#reason ?? `close-${code}`, status);
        }
        settle();
      });
    });
  }

  #storeCookies(setCookie: string[] | undefined): void {
    this.lastSetCookie = setCookie ?? [];
    this.cookies.store(setCookie);
  }

  #onHello(ws: WebSocket, hello: BackendWsHello): void {
    const t = nowMs();
    if (this.#state === 'closed') return;
    this.#state = 'open';
    this.#failures = 0;
    this.connects++;
    this.counters.received++;
    this.lastHello = hello;
    this.#open = { ws, hello, connectedAtMs: t, lastSeq: hello.seq, lastHeardAtMs: t };
    const cut = this.#cut;
    this.#cut = undefined;
    if (cut) {
      cut.reconnectedAtMs = t;
      cut.reconnectMs = t - cut.atMs;
      cut.backendAfter = hello.backend;
      cut.attempts = this.#attemptsSinceCut;
    }
    this.#startSending();
    this.#armSilence();
    this.events.emit('connected', hello, cut);
  }

  #onMessage(msg: BackendWsMessage): void {
    const open = this.#open;
    if (!open) return;
    this.counters.received++;
    open.lastHeardAtMs = nowMs();
    if (msg.seq > open.lastSeq + 1) this.counters.seqGaps += msg.seq - open.lastSeq - 1;
    open.lastSeq = Math.max(open.lastSeq, msg.seq);
    if (msg.type === 'push') this.counters.pushes++;
    else if (msg.type === 'echo') {
      let id: unknown;
      try {
        id = (JSON.parse(msg.data) as { id?: unknown }).id;
      } catch {
        // an echo of something this client did not send
      }
      if (typeof id === 'number' && this.#pending.delete(id)) this.counters.echoes++;
    }
    if (this.events.listenerCount('message') > 0) this.events.emit('message', msg);
  }

  #onCut(closeCode: number, reason: string): void {
    const open = this.#open;
    if (!open) return;
    this.#open = undefined;
    this.#stopConnectionTimers();
    const t = nowMs();
    const lost = this.#pending.size;
    this.#pending.clear();
    this.counters.lost += lost;
    const cut: WsDisconnect = {
      atMs: t,
      backendBefore: open.hello.backend,
      reason,
      closeCode,
      lostMessages: lost,
      connectionMs: t - open.connectedAtMs,
    };
    this.disconnects.push(cut);
    if (this.disconnects.length > MAX_DISCONNECT_RECORDS) this.disconnects.shift();
    this.#cut = cut;
    this.#attemptsSinceCut = 0;
    this.lastError = reason;
    this.#retryIn(this.#backoff.delayMs(0));
    this.events.emit('disconnected', cut);
  }

  #onAttemptFailed(reason: string, status: number | undefined): void {
    this.failedAttempts++;
    this.lastError = reason;
    this.#failures++;
    const delay = this.#backoff.delayMs(this.#failures);
    this.#retryIn(delay);
    const failure: WsAttemptFailure = { atMs: nowMs(), reason, consecutive: this.#failures, nextDelayMs: delay };
    if (status !== undefined) failure.status = status;
    this.events.emit('attempt-failed', failure);
  }

  #retryIn(delayMs: number): void {
    this.#state = 'backoff';
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#state === 'backoff') void this.#connect();
    }, delayMs);
  }

  #startSending(): void {
    const every = this.#opts.sendEveryMs;
    if (every === undefined || every <= 0) return;
    // A random phase per client, so a fleet's sends do not arrive in bursts.
    this.#sendTimer = setTimeout(() => {
      this.send();
      this.#sendTimer = setInterval(() => this.send(), every);
    }, this.#opts.random() * every);
  }

  #armSilence(delayMs = this.#opts.silenceTimeoutMs): void {
    if (delayMs === undefined) return;
    this.#silenceTimer = setTimeout(() => this.#checkSilence(), delayMs);
  }

  #checkSilence(): void {
    const open = this.#open;
    const limit = this.#opts.silenceTimeoutMs;
    if (!open || limit === undefined) return;
    // Quiet since the last message when pushes are due; with echoes only, since the later of
    // that and the oldest unanswered send (an idle connection is not a silent one).
    let quietSince: number | undefined;
    if (this.#opts.pushMs !== undefined) quietSince = open.lastHeardAtMs;
    else {
      const oldest = this.#pending.values().next();
      if (!oldest.done) quietSince = Math.max(open.lastHeardAtMs, oldest.value);
    }
    const quietMs = quietSince === undefined ? 0 : nowMs() - quietSince;
    if (quietMs >= limit) {
      this.#reason ??= 'silence';
      open.ws.terminate();
      return;
    }
    this.#armSilence(limit - quietMs);
  }

  #stopConnectionTimers(): void {
    clearTimeout(this.#sendTimer);
    clearTimeout(this.#silenceTimer);
    this.#sendTimer = undefined;
    this.#silenceTimer = undefined;
  }
}
