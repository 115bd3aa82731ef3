/**
 * Hundreds of reconnecting WebSocket clients driven through the LB at once, like the users of
 * a real frontend, with the numbers a sticky-WebSocket check needs: who is on which backend,
 * how long reconnects take, and what was lost on the way.
 */
import { EventEmitter } from 'node:events';
import * as hdr from 'hdr-histogram-js';
import type { BackendWsHello } from '../../fixtures/backend/websocket-session.ts';
import type { Endpoint } from '../client/lb-client.ts';
import { LbdrillError } from '../errors.ts';
import { seededRandom } from '../faults/seeded-random.ts';
import { checkBackoff } from './exponential-backoff.ts';
import type { BackoffOptions } from './exponential-backoff.ts';
import { nowMs, WsClient } from './ws-client.ts';
import type { WsAttemptFailure, WsClientCounters, WsDisconnect } from './ws-client.ts';

/** The clock of every *AtMs in fleet records, for waitAllReconnectedSince. */
export { nowMs };

/** Loopback has ~28k ephemeral ports per source address; beyond this a run measures the host. */
export const MAX_FLEET_CLIENTS = 2000;
/** Initial connects in flight at once unless connectConcurrency says otherwise. */
export const DEFAULT_CONNECT_CONCURRENCY = 50;
const DEFAULT_PATH = '/ws';
/** Reconnect times above an hour are clamped; a run is far shorter. */
const HISTOGRAM_MAX_MS = 3_600_000;

/** Options of WsFleet.start. */
export interface WsFleetOptions {
  count: number;
  /** Where the clients connect: `endpoint` (as LbClient uses it) or a ws(s):// `url` whose path is the default path. */
  endpoint?: Pick<Endpoint, 'host' | 'port' | 'tls' | 'serverName'>;
  url?: string;
  /** PEM of the only CA trusted for wss. */
  ca?: string;
  /** TLS SNI and Host header; default endpoint.serverName. */
  serverName?: string;
  /** Source address of client i, e.g. i => `127.0.5.${1 + (i % 200)}`. */
  localAddress?: (i: number) => string | undefined;
  /** Cookies every client, or client i, starts with. */
  cookies?: Readonly<Record<string, string>> | ((i: number) => Readonly<Record<string, string>>);
  /** Path and query of client i; default the url's, else /ws. */
  pathFor?: (i: number) => string;
  /** Extra upgrade request headers of client i. */
  headersFor?: (i: number) => Readonly<Record<string, string>>;
  /** Ask backends for a push this often. */
  pushMs?: number;
  /** Each client sends a numbered message this often. */
  sendEveryMs?: number;
  backoff: BackoffOptions;
  seed: number | string;
  connectTimeoutMs: number;
  /** See WsClientOptions.silenceTimeoutMs. */
  silenceTimeoutMs?: number;
  /** Initial connects in flight at once; default 50. Reconnects are not limited, as with real users. */
  connectConcurrency?: number;
  closeTimeoutMs?: number;
}

/** Percentiles of a duration in ms. */
export interface DurationSummary {
  count: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
}

/** A snapshot of the fleet. */
export interface WsFleetStats {
  clients: number;
  connected: number;
  connecting: number;
  /** Waiting out a backoff delay. */
  backoff: number;
  /** Hellos, first connects included. */
  connects: number;
  /** Established connections that were cut. */
  disconnects: number;
  /** Cuts followed by a hello. */
  reconnects: number;
  /** Reconnects that landed on another backend than before. */
  moved: number;
  failedAttempts: number;
  /** Failed attempts by reason (ECONNREFUSED, http-502, timeout, ...). */
  failuresByReason: Record<string, number>;
  /** Cuts by reason (ECONNRESET, close-1006, silence, ...). */
  disconnectsByReason: Record<string, number>;
  /** Connected clients per backend id. */
  perBackend: Record<string, number>;
  /** Cut to next hello; undefined before the first reconnect. */
  reconnectMs: DurationSummary | undefined;
  messages: Pick<WsClientCounters, 'sent' | 'received' | 'echoes' | 'pushes' | 'lost' | 'seqGaps' | 'skipped' | 'malformed'>;
}

/** Events of StartedWsFleet.events, for a live view. */
export interface WsFleetEvents {
  connected: [client: WsClient, hello: BackendWsHello, after: WsDisconnect | undefined];
  disconnected: [client: WsClient, cut: WsDisconnect];
  'attempt-failed': [client: WsClient, failure: WsAttemptFailure];
}

function usage(message: string): LbdrillError {
  return new LbdrillError('LBDRILL_ERR_USAGE', `ws fleet: ${message}`);
}

function positiveInteger(name: string, value: number | undefined, max = Number.MAX_SAFE_INTEGER): void {
  if (value === undefined) return;
  if (!Number.isSafeInteger(value) || value < 1 || value > max) throw usage(`${name} must be an integer in 1..${max}, got ${value}`);
}

function baseUrl(opts: WsFleetOptions): URL {
  if ((opts.url === undefined) === (opts.endpoint === undefined)) throw usage('give exactly one of url and endpoint');
  if (opts.url !== undefined) {
    try {
      return new URL(opts.url);
    } catch (err) {
      throw new LbdrillError('LBDRILL_ERR_USAGE', `ws fleet: url: not a URL: ${opts.url}`, { cause: err });
    }
  }
  const e = opts.endpoint!;
  const host = e.host.includes(':') ? `[${e.host}]` : e.host;
  return new URL(`${e.tls ? 'wss' : 'ws'}://${host}:${e.port}${DEFAULT_PATH}`);
}

function countInto(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

/** Validates fleet options; start() makes the clients and begins connecting. */
export class WsFleet {
  readonly #opts: WsFleetOptions;
  readonly #base: URL;

  constructor(opts: WsFleetOptions) {
    positiveInteger('count', opts.count, MAX_FLEET_CLIENTS);
    positiveInteger('connectTimeoutMs', opts.connectTimeoutMs);
    positiveInteger('connectConcurrency', opts.connectConcurrency, MAX_FLEET_CLIENTS);
    positiveInteger('sendEveryMs', opts.sendEveryMs);
    positiveInteger('pushMs', opts.pushMs);
    positiveInteger('silenceTimeoutMs', opts.silenceTimeoutMs);
    try {
      checkBackoff(opts.backoff);
    } catch (err) {
      throw new LbdrillError('LBDRILL_ERR_USAGE', `ws fleet: ${(err as Error).message}`, { cause: err });
    }
    this.#opts = opts;
    this.#base = baseUrl(opts);
    if (this.#base.protocol !== 'ws:' && this.#base.protocol !== 'wss:') throw usage(`url: expected ws: or wss:, got ${this.#base.protocol}`);
    if (this.#base.protocol === 'wss:' && opts.ca === undefined) throw usage("ca: required for wss (clients trust only lbdrill's CA)");
  }

  /** Starts a fleet; it connects in the background (see StartedWsFleet.waitAllConnected). */
  static async start(opts: WsFleetOptions): Promise<StartedWsFleet> {
    return new WsFleet(opts).start();
  }

  async start(): Promise<StartedWsFleet> {
    const o = this.#opts;
    const serverName = o.serverName ?? o.endpoint?.serverName;
    const defaultPath = o.url !== undefined ? `${this.#base.pathname}${this.#base.search}` : DEFAULT_PATH;
    const clients: WsClient[] = [];
    for (let i = 0; i < o.count; i++) {
      const path = o.pathFor?.(i) ?? defaultPath;
      if (!path.startsWith('/')) throw usage(`pathFor(${i}) must start with /, got ${path}`);
      const localAddress = o.localAddress?.(i);
      const cookies = typeof o.cookies === 'function' ? o.cookies(i) : o.cookies;
      const headers = o.headersFor?.(i);
      clients.push(
        new WsClient({
          index: i,
          url: `${this.#base.protocol}//${this.#base.host}${path}`,
          backoff: o.backoff,
          random: seededRandom(o.seed, 'ws-client', i),
          connectTimeoutMs: o.connectTimeoutMs,
          ...(o.ca !== undefined ? { ca: o.ca } : {}),
          ...(serverName !== undefined ? { serverName } : {}),
          ...(localAddress !== undefined ? { localAddress } : {}),
          ...(cookies !== undefined ? { cookies } : {}),
          ...(headers !== undefined ? { headers } : {}),
          ...(o.pushMs !== undefined ? { pushMs: o.pushMs } : {}),
          ...(o.sendEveryMs !== undefined ? { sendEveryMs: o.sendEveryMs } : {}),
          ...(o.silenceTimeoutMs !== undefined ? { silenceTimeoutMs: o.silenceTimeoutMs } : {}),
          ...(o.closeTimeoutMs !== undefined ? { closeTimeoutMs: o.closeTimeoutMs } : {}),
        }),
      );
    }
    return new StartedWsFleet(clients, o.connectConcurrency ?? DEFAULT_CONNECT_CONCURRENCY);
  }
}

/** A running fleet; close() (or `await using`) ends every client. */
export class StartedWsFleet implements AsyncDisposable {
  readonly clients: readonly WsClient[];
  readonly events = new EventEmitter<WsFleetEvents>();
  /** Resolves once every client has made its first attempt. */
  readonly ramped: Promise<void>;

  readonly #reconnectMs = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HISTOGRAM_MAX_MS, numberOfSignificantValueDigits: 3 });
  #reconnectMaxMs = 0;
  #disconnects = 0;
  #reconnects = 0;
  #moved = 0;
  #failuresByReason: Record<string, number> = {};
  #disconnectsByReason: Record<string, number> = {};
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Re-checks waiters on any client change. */
  readonly #changed = new EventEmitter<{ change: []; closed: [] }>();

  /** Use WsFleet.start(). */
  constructor(clients: WsClient[], concurrency: number) {
    this.clients = Object.freeze(clients);
    this.events.setMaxListeners(100);
    this.#changed.setMaxListeners(100);
    for (const c of clients) {
      c.events.on('connected', (hello, after) => {
        if (after?.reconnectMs !== undefined) {
          this.#reconnects++;
          if (after.backendAfter !== after.backendBefore) this.#moved++;
          this.#reconnectMs.recordValue(Math.min(HISTOGRAM_MAX_MS, Math.max(1, Math.round(after.reconnectMs))));
          this.#reconnectMaxMs = Math.max(this.#reconnectMaxMs, after.reconnectMs);
        }
        this.events.emit('connected', c, hello, after);
        this.#changed.emit('change');
      });
      c.events.on('disconnected', (cut) => {
        this.#disconnects++;
        countInto(this.#disconnectsByReason, cut.reason);
        this.events.emit('disconnected', c, cut);
        this.#changed.emit('change');
      });
      c.events.on('attempt-failed', (failure) => {
        countInto(this.#failuresByReason, failure.reason);
        this.events.emit('attempt-failed', c, failure);
        this.#changed.emit('change');
      });
    }
    let next = 0;
    const worker = async (): Promise<void> => {
      // Each pass takes one client; the loop ends after clients.length passes in all.
      while (next < clients.length && !this.#closed) {
        const client = clients[next++]!;
        await client.start();
      }
    };
    this.ramped = Promise.all(Array.from({ length: Math.min(concurrency, clients.length) }, worker)).then(() => undefined);
  }

  /** Resolves when every client is connected. */
  waitAllConnected(timeoutMs: number): Promise<void> {
    return this.#waitUntil(() => this.clients.every((c) => c.state === 'open'), timeoutMs, 'all clients connected');
  }

  /**
   * Resolves when every client is connected and each of `opts.clients` has said hello at or
   * after `sinceMs` (nowMs() clock). Without `opts.clients` only clients already seen cut
   * since `sinceMs` are required to be back; pass the clients a fault will cut (e.g. those on
   * the backend about to stop) to not race the cut itself.
   */
  waitAllReconnectedSince(sinceMs: number, timeoutMs: number, opts: { clients?: readonly WsClient[] } = {}): Promise<void> {
    const must = opts.clients;
    return this.#waitUntil(
      () =>
        this.clients.every((c) => c.state === 'open') &&
        (must ?? []).every((c) => (c.connectedAtMs ?? -Infinity) >= sinceMs),
      timeoutMs,
      must ? `${must.length} clients reconnected since the fault` : 'all clients reconnected',
    );
  }

  stats(): WsFleetStats {
    const perBackend: Record<string, number> = {};
    const messages: WsFleetStats['messages'] = { sent: 0, received: 0, echoes: 0, pushes: 0, lost: 0, seqGaps: 0, skipped: 0, malformed: 0 };
    let connected = 0;
    let connecting = 0;
    let backoff = 0;
    let connects = 0;
    let failedAttempts = 0;
    for (const c of this.clients) {
      if (c.state === 'open') connected++;
      else if (c.state === 'connecting') connecting++;
      else if (c.state === 'backoff') backoff++;
      const backend = c.backend;
      if (backend !== undefined) countInto(perBackend, backend);
      connects += c.connects;
      failedAttempts += c.failedAttempts;
      for (const key of Object.keys(messages) as Array<keyof typeof messages>) messages[key] += c.counters[key];
    }
    const h = this.#reconnectMs;
    return {
      clients: this.clients.length,
      connected,
      connecting,
      backoff,
      connects,
      disconnects: this.#disconnects,
      reconnects: this.#reconnects,
      moved: this.#moved,
      failedAttempts,
      failuresByReason: { ...this.#failuresByReason },
      disconnectsByReason: { ...this.#disconnectsByReason },
      perBackend,
      reconnectMs:
        this.#reconnects === 0
          ? undefined
          : {
              count: this.#reconnects,
              p50Ms: h.getValueAtPercentile(50),
              p95Ms: h.getValueAtPercentile(95),
              maxMs: Math.round(this.#reconnectMaxMs),
            },
      messages,
    };
  }

  /** Closes every client and stops all reconnecting; resolves when every socket is closed. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      this.#changed.emit('closed');
      await Promise.all(this.clients.map((c) => c.close()));
      await this.ramped;
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #waitUntil(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#changed.off('change', check);
        this.#changed.off('closed', onClosed);
      };
      const check = (): void => {
        if (!done()) return;
        cleanup();
        resolve();
      };
      const onClosed = (): void => {
        cleanup();
        reject(new LbdrillError('LBDRILL_ERR_INTERNAL', `ws fleet: closed while waiting for ${what}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new LbdrillError('LBDRILL_ERR_TIMEOUT', `ws fleet: no ${what} within ${timeoutMs} ms (${this.#describe()})`));
      }, timeoutMs);
      this.#changed.on('change', check);
      this.#changed.on('closed', onClosed);
      if (this.#closed) onClosed();
      else check();
    });
  }

  /** One line for a timeout message: where the clients are and why the last attempts failed. */
  #describe(): string {
    const s = this.stats();
    const reasons = Object.entries(s.failuresByReason)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([r, n]) => `${r}×${n}`)
      .join(', ');
    return `${s.connected}/${s.clients} connected, ${s.connecting} connecting, ${s.backoff} in backoff${reasons ? `; failures ${reasons}` : ''}`;
  }
}

