import type { LbErrorCode } from './errors.ts';
import type { ServerState } from './upstream-server.ts';

/** A bound listener, as reported in the ready line. */
export interface ListenerInfo {
  name: string;
  host: string;
  port: number;
  tls: boolean;
}

/** Where the admin API listens. */
export interface AdminInfo {
  host: string;
  port: number;
}

/** Printed once by main.ts when every listener is bound. */
export interface ReadyEvent {
  event: 'ready';
  listeners: ListenerInfo[];
  /** Present when the config has `admin`. */
  admin?: AdminInfo;
}

/** One failed upstream attempt (a retried attempt logs one too). */
export interface UpstreamErrorEvent {
  event: 'upstream-error';
  listener: string;
  upstream: string;
  server: string;
  code: LbErrorCode;
  message: string;
  method: string;
  /** The request target as the client sent it. */
  url: string;
  /** Another server is tried next. */
  retry: boolean;
  /** Status sent to the client for this failure, or null when retried or the response had already started. */
  status: number | null;
}

/** A worker process of a `workers: N` setup exited and is being replaced. */
export interface WorkerExitEvent {
  event: 'worker-exit';
  pid: number;
  code: number | null;
  signal: string | null;
}

/** A server changed state (health check, passive ejection, admin API); emitted the moment it happens. */
export interface ServerStateEvent {
  event: 'server-state';
  upstream: string;
  /** The server's name (its address unless the config names it). */
  server: string;
  address: string;
  from: ServerState;
  to: ServerState;
  /** Why, e.g. `health check: connect ECONNREFUSED (3/3)`. */
  reason: string;
  /** Epoch milliseconds, fractional. */
  atMs: number;
}

/** A map changed (admin API: one entry set or deleted, all replaced, or its file reloaded); emitted once, by the owner. */
export interface MapUpdateEvent {
  event: 'map-update';
  map: string;
  op: 'set' | 'delete' | 'replace' | 'reload';
  /** The entry changed, for `set` and `delete`. */
  key?: string;
  /** The upstream it now names, for `set`. */
  value?: string;
  /** Entries in the map afterwards. */
  entries: number;
  /** The map's version afterwards (1 after the first change). */
  version: number;
  /** Epoch milliseconds, fractional. */
  atMs: number;
}

/** Everything the LB reports as JSON lines on stdout. */
export type LbEvent = ReadyEvent | UpstreamErrorEvent | WorkerExitEvent | ServerStateEvent | MapUpdateEvent;

/** Receives events; main.ts writes them to stdout, one JSON object per line. */
export type EventSink = (event: LbEvent) => void;
