import http from 'node:http';
import type { HealthCheckConfig } from './config-schema.ts';
import type { UpstreamServer } from './upstream-server.ts';

/** The outcome of one check: `detail` goes into the state-change reason (`connect ECONNREFUSED`, `status 503`). */
export interface CheckResult {
  ok: boolean;
  detail: string;
}

/** `expect_status` as a lookup table indexed by status. */
export function compileExpectStatus(entries: readonly (number | string)[]): (status: number) => boolean {
  const table = new Uint8Array(600);
  for (const e of entries) {
    if (typeof e === 'number') table[e] = 1;
    else {
      const base = Number(e[0]) * 100;
      table.fill(1, base, base + 100);
    }
  }
  return (status) => status >= 0 && status < 600 && table[status] === 1;
}

/**
 * One check: a new connection straight to the server, `GET path` with `Host` = the
 * server's address and `Connection: close`. Decided on the response head (a streaming
 * health endpoint must not hold the check open); refused, reset, silent past
 * `timeoutMs`, or an unexpected status is a failure.
 */
export function probeServer(
  server: UpstreamServer,
  path: string,
  timeoutMs: number,
  expect: (status: number) => boolean,
  signal?: AbortSignal,
): Promise<CheckResult> {
  return new Promise((resolve) => {
    let connected = false;
    let settled = false;
    const req = http.request({
      host: server.host,
      port: server.port,
      path,
      method: 'GET',
      agent: false,
      setHost: false,
      signal,
      headers: { Host: server.hostHeader, 'User-Agent': 'reference-lb-health-check', Connection: 'close' },
    });
    const finish = (ok: boolean, detail: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve({ ok, detail });
    };
    const timer = setTimeout(() => finish(false, `${connected ? '' : 'connect '}timeout after ${timeoutMs} ms`), timeoutMs);
    req.on('socket', (socket) => socket.once('connect', () => (connected = true)));
    req.on('response', (res) => finish(expect(res.statusCode ?? 0), `status ${res.statusCode ?? 0}`));
    req.on('error', (err: NodeJS.ErrnoException) => finish(false, `${connected ? '' : 'connect '}${err.code ?? err.message}`));
    req.end();
  });
}

function runCheck(check: ActiveHealthCheck): void {
  check.run();
}

/**
 * The check loop of one server. Checks start every `interval_ms` on a fixed cadence
 * (HAProxy's `inter`): a slow check delays the next one only if it overruns the
 * interval, and missed slots are skipped rather than bunched up.
 */
export class ActiveHealthCheck {
  private readonly server: UpstreamServer;
  private readonly config: HealthCheckConfig;
  private readonly timeoutMs: number;
  private readonly expect: (status: number) => boolean;
  private readonly onResult: (result: CheckResult) => void;
  private timer: NodeJS.Timeout | undefined;
  /** performance.now() when the next check is due. */
  private nextAt = 0;
  private stopped = true;
  private inFlight: AbortController | undefined;

  constructor(server: UpstreamServer, config: HealthCheckConfig, onResult: (result: CheckResult) => void) {
    this.server = server;
    this.config = config;
    this.timeoutMs = config.timeout_ms ?? config.interval_ms;
    this.expect = compileExpectStatus(config.expect_status);
    this.onResult = onResult;
  }

  /** Runs the first check at once, then every interval. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.nextAt = performance.now();
    this.run();
  }

  run(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const abort = new AbortController();
    this.inFlight = abort;
    void probeServer(this.server, this.config.path, this.timeoutMs, this.expect, abort.signal).then((result) => {
      this.inFlight = undefined;
      if (this.stopped) return;
      this.onResult(result);
      this.schedule();
    });
  }

  stop(): void {
    this.stopped = true;
    this.inFlight?.abort();
    this.inFlight = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.stopped) return;
    const now = performance.now();
    const interval = this.config.interval_ms;
    this.nextAt += interval;
    if (this.nextAt < now) this.nextAt += Math.ceil((now - this.nextAt) / interval) * interval;
    this.timer = setTimeout(runCheck, Math.max(0, this.nextAt - now), this);
    this.timer.unref();
  }
}
