import type { LbErrorCode } from './errors.ts';

/** A bound listener, as reported in the ready line. */
export interface ListenerInfo {
  name: string;
  host: string;
  port: number;
  tls: boolean;
}

/** Printed once by main.ts when every listener is bound. */
export interface ReadyEvent {
  event: 'ready';
  listeners: ListenerInfo[];
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

/** Everything the LB reports as JSON lines on stdout. */
export type LbEvent = ReadyEvent | UpstreamErrorEvent | WorkerExitEvent;

/** Receives events; main.ts writes them to stdout, one JSON object per line. */
export type EventSink = (event: LbEvent) => void;
