import { formatHostPort, parseHostPort } from './host-port.ts';

/**
 * `up` takes traffic; `drain` finishes what it has but gets nothing new; `down` failed its
 * health checks or was ejected passively; `maint` was taken out by the operator.
 */
export type ServerState = 'up' | 'drain' | 'down' | 'maint';

/** What the operator (admin API, config `down`) asked for. */
export type AdminState = 'ready' | 'drain' | 'maint';

/**
 * The part of a server's state that one process decides and every worker follows: with
 * `workers: N` the primary owns it and sends it over IPC (see upstream-monitor.ts).
 */
export interface ServerStatus {
  adminState: AdminState;
  /** Health checks and passive ejection agree the server works. */
  healthy: boolean;
  /** Configured weight, or what the admin API set. */
  weight: number;
}

/** A change of `state`. */
export interface StateTransition {
  from: ServerState;
  to: ServerState;
}

/**
 * Something in flight to a server that `on_marked_down: shutdown_sessions` must be able
 * to cut: a proxied request today, an upgraded (WebSocket) tunnel later. The object
 * itself is the set entry, so tracking allocates nothing per request.
 */
export interface LiveSession {
  /** Destroys the upstream connection and the client connection of this session. */
  abortSession(reason: string): void;
}

/** Per-server behaviour that comes from its upstream's config. */
export interface UpstreamServerOptions {
  name?: string;
  weight?: number;
  backup?: boolean;
  /** Initial admin state; config `down: true` is `maint`. */
  adminState?: AdminState;
  /** Ramp length after coming back up (HAProxy `slowstart`); 0 = none. */
  slowStartMs?: number;
  /** Keep a set of live sessions so they can be cut when the server is marked down. */
  trackSessions?: boolean;
  /** Requests in flight at most (HAProxy `maxconn`); 0 = no limit. */
  maxConn?: number;
}

/** The weight a server starts its slow start ramp with, as a fraction of its weight ("~0"). */
export const SLOW_START_FLOOR = 0.01;

/** Effective-weight updates during a ramp: ~100 steps, but not more often than every 10 ms or less than every second. */
function rampTickMs(slowStartMs: number): number {
  return Math.min(1000, Math.max(10, Math.round(slowStartMs / 100)));
}

function onRampTick(server: UpstreamServer): void {
  server.updateRamp();
}

/** Epoch milliseconds with sub-millisecond precision. */
function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * One upstream server and everything balancers and health logic know about it. The
 * balancer reads `available` and `effectiveWeight` (plain fields, so a pick does no
 * computing); `setStatus` is the one place they change. Counters are per process.
 */
export class UpstreamServer {
  /** `host:port` as configured. */
  readonly address: string;
  /** Label for logs and the admin API; the address unless the config names the server. */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** Value for the Host header when the client's is not preserved (and for health checks). */
  readonly hostHeader: string;
  readonly backup: boolean;
  readonly slowStartMs: number;
  /** Live sessions, kept only with `on_marked_down: shutdown_sessions`. */
  readonly sessions: Set<LiveSession> | undefined;
  state: ServerState;
  /** `state === 'up'`, cached for the balancer. */
  available: boolean;
  adminState: AdminState;
  healthy = true;
  /** Relative share of traffic when fully up. */
  weight: number;
  /** What the balancer uses: `weight` scaled by the slow start ramp; 0 when not up. */
  effectiveWeight: number;
  /** Epoch ms of the last state change (start-up until the first). */
  lastChange: number;
  /** Requests currently in flight to this server (least-connections reads it). */
  active = 0;
  /** Most requests in flight at once (`max_conn`); 0 = no limit. Balancers skip a server with `active >= maxConn`. */
  readonly maxConn: number;
  /**
   * Told when a request ends or the state changes, i.e. when a queued request may now
   * find a server; set by an upstream with a queue (`max_conn`), undefined otherwise.
   */
  onCapacity: ((server: UpstreamServer) => void) | undefined;
  /** Requests ever sent, and how many of them failed (connection-level, or a `fail_on_status` status). */
  requests = 0;
  failures = 0;
  /** performance.now() when the current slow start ramp began; undefined when not ramping. */
  private rampStart: number | undefined;
  private rampTimer: NodeJS.Timeout | undefined;

  constructor(address: string, options: UpstreamServerOptions = {}) {
    const hp = parseHostPort(address);
    if (!hp) throw new Error(`not host:port: ${address}`);
    this.address = address;
    this.name = options.name ?? address;
    this.host = hp.host;
    this.port = hp.port;
    this.hostHeader = formatHostPort(hp.host, hp.port);
    this.backup = options.backup ?? false;
    this.slowStartMs = options.slowStartMs ?? 0;
    this.sessions = options.trackSessions ? new Set() : undefined;
    this.maxConn = options.maxConn ?? 0;
    this.onCapacity = undefined;
    this.weight = options.weight ?? 1;
    this.adminState = options.adminState ?? 'ready';
    this.state = this.deriveState();
    this.available = this.state === 'up';
    this.effectiveWeight = this.available ? this.weight : 0;
    this.lastChange = epochMs();
  }

  /** The replicated part of the state. */
  get status(): ServerStatus {
    return { adminState: this.adminState, healthy: this.healthy, weight: this.weight };
  }

  /**
   * Applies (part of) a status and returns the state change, if any. Coming up from
   * `down` or `maint` starts the slow start ramp; cutting sessions is the caller's call
   * (after it has reported the change), see `shutdownSessions`.
   */
  setStatus(change: Partial<ServerStatus>): StateTransition | undefined {
    if (change.adminState !== undefined) this.adminState = change.adminState;
    if (change.healthy !== undefined) this.healthy = change.healthy;
    if (change.weight !== undefined) this.weight = change.weight;
    const from = this.state;
    const to = this.deriveState();
    this.state = to;
    this.available = to === 'up';
    if (to === 'up' && (from === 'down' || from === 'maint') && this.slowStartMs > 0) this.startRamp();
    else if (to !== 'up') this.stopRamp();
    this.updateRamp();
    this.onCapacity?.(this);
    if (from === to) return undefined;
    this.lastChange = epochMs();
    return { from, to };
  }

  /** True while the slow start ramp runs. */
  get ramping(): boolean {
    return this.rampStart !== undefined;
  }

  /** Recomputes `effectiveWeight`; the ramp timer calls it. */
  updateRamp(): void {
    if (!this.available) {
      this.effectiveWeight = 0;
      return;
    }
    if (this.rampStart === undefined) {
      this.effectiveWeight = this.weight;
      return;
    }
    const fraction = (performance.now() - this.rampStart) / this.slowStartMs;
    if (fraction >= 1) {
      this.stopRamp();
      this.effectiveWeight = this.weight;
      return;
    }
    this.effectiveWeight = this.weight * Math.max(SLOW_START_FLOOR, fraction);
  }

  /** Called when a request to this server starts. */
  onRequestStart(): void {
    this.active++;
    this.requests++;
  }

  /** Called exactly once per started request; `failed` when it ended in a connection-level error. */
  onRequestEnd(failed: boolean): void {
    this.active--;
    if (failed) this.failures++;
    if (this.onCapacity !== undefined) this.onCapacity(this);
  }

  /** At `max_conn`: a new request has to wait for one of this server's requests to end. */
  get full(): boolean {
    return this.maxConn !== 0 && this.active >= this.maxConn;
  }

  /** Cuts every live session (on_marked_down: shutdown_sessions); returns how many. */
  shutdownSessions(reason: string): number {
    const sessions = this.sessions;
    if (sessions === undefined || sessions.size === 0) return 0;
    const cut = [...sessions];
    sessions.clear();
    for (const session of cut) session.abortSession(reason);
    return cut.length;
  }

  /** Stops the ramp timer (the LB is closing). */
  dispose(): void {
    this.stopRamp();
  }

  private deriveState(): ServerState {
    if (this.adminState === 'maint') return 'maint';
    if (!this.healthy) return 'down';
    return this.adminState === 'drain' ? 'drain' : 'up';
  }

  private startRamp(): void {
    this.rampStart = performance.now();
    clearInterval(this.rampTimer);
    this.rampTimer = setInterval(onRampTick, rampTickMs(this.slowStartMs), this);
    this.rampTimer.unref();
  }

  private stopRamp(): void {
    this.rampStart = undefined;
    clearInterval(this.rampTimer);
    this.rampTimer = undefined;
  }
}

/** A transition that takes a server out of service (on_marked_down applies). */
export function isMarkedDown(t: StateTransition): boolean {
  return (t.to === 'down' || t.to === 'maint') && t.from !== 'down' && t.from !== 'maint';
}
