import { ActiveHealthCheck, type CheckResult } from './active-health-check.ts';
import type { EventSink, ServerStateEvent } from './events.ts';
import type { UpstreamPool } from './upstream-pool.ts';
import { isMarkedDown, type AdminState, type ServerState, type ServerStatus, type UpstreamServer } from './upstream-server.ts';

/** Per-server counters a process other than the monitor's may hold: `[active, requests, failures]` by upstream, in server order. */
export type TrafficCounters = Record<string, Array<[number, number, number]>>;

/** Requests waiting in each upstream's queue (`max_conn`), by upstream. */
export type QueueCounters = Record<string, number>;

/** What cluster workers report for the admin API: their traffic counters and queue lengths, summed. */
export interface ClusterCounters {
  upstreams: TrafficCounters;
  queued: QueueCounters;
}

/** One server as the admin API shows it. */
export interface ServerView {
  name: string;
  address: string;
  state: ServerState;
  weight: number;
  effectiveWeight: number;
  active: number;
  requests: number;
  failures: number;
  backup: boolean;
  /** `max_conn`; 0 = no limit. */
  maxConn: number;
  /** Consecutive failed / passed health checks so far (0 without health checks). */
  checkFails: number;
  checkPasses: number;
  /** Epoch ms of the last state change. */
  lastChange: number;
}

/** `GET /v1/upstreams`. */
export interface UpstreamsView {
  /** `queued`: requests waiting for a server below max_conn (0 without max_conn). */
  upstreams: Array<{ name: string; queued: number; servers: ServerView[] }>;
}

/** Called whenever a server's replicated status changes, to send it to cluster workers. */
export type StatusListener = (pool: UpstreamPool, index: number, status: ServerStatus, reason: string) => void;

interface Tracked {
  pool: UpstreamPool;
  server: UpstreamServer;
  index: number;
  check: ActiveHealthCheck | undefined;
  checkFails: number;
  checkPasses: number;
  /** Passive failures in the current window, and performance.now() when the window opened. */
  passiveFails: number;
  passiveWindowStart: number;
  /** Brings a passively ejected server back after fail_timeout (only without health checks). */
  passiveTimer: NodeJS.Timeout | undefined;
}

/**
 * The one owner of server state: active health checks, passive ejection, admin changes.
 * Every change goes through `apply`, which updates the server, tells cluster workers,
 * emits the `server-state` event at once, and then cuts live sessions when the upstream
 * has `on_marked_down: shutdown_sessions`. In a single process it drives the serving
 * pools directly; with `workers: N` it runs in the primary on pools that serve nothing,
 * and workers follow it over IPC (run-cli.ts).
 */
export class UpstreamMonitor {
  readonly pools: ReadonlyMap<string, UpstreamPool>;
  private readonly tracked = new Map<UpstreamServer, Tracked>();
  private readonly subscribers = new Set<(event: ServerStateEvent) => void>();
  private readonly onEvent: EventSink | undefined;
  private readonly onStatus: StatusListener | undefined;
  private closed = false;

  constructor(pools: ReadonlyMap<string, UpstreamPool>, options: { onEvent?: EventSink; onStatus?: StatusListener } = {}) {
    this.pools = pools;
    this.onEvent = options.onEvent;
    this.onStatus = options.onStatus;
    for (const pool of pools.values()) {
      pool.servers.forEach((server, index) => {
        const t: Tracked = { pool, server, index, check: undefined, checkFails: 0, checkPasses: 0, passiveFails: 0, passiveWindowStart: 0, passiveTimer: undefined };
        const hc = pool.healthCheck;
        if (hc) t.check = new ActiveHealthCheck(server, hc, (result) => this.onCheckResult(t, result));
        this.tracked.set(server, t);
      });
      if (pool.passive) pool.onFailure = (p, server, reason) => this.recordFailure(p, server, reason);
    }
  }

  /** Starts the health checks. */
  start(): void {
    for (const t of this.tracked.values()) t.check?.start();
  }

  /** Stops checks and timers; the pools stay as they are. */
  close(): void {
    this.closed = true;
    for (const t of this.tracked.values()) {
      t.check?.stop();
      clearTimeout(t.passiveTimer);
      t.passiveTimer = undefined;
    }
    this.subscribers.clear();
  }

  /** Receives every server-state event until the returned function is called. */
  subscribe(listener: (event: ServerStateEvent) => void): () => void {
    this.subscribers.add(listener);
    return () => this.subscribers.delete(listener);
  }

  /**
   * A failed attempt of real traffic (nginx semantics): `max_fails` failures within
   * `fail_timeout_ms` of the first take the server out. Without health checks it comes
   * back after `fail_timeout_ms`; with them it stays down until `rise` checks pass.
   */
  recordFailure(pool: UpstreamPool, server: UpstreamServer, reason: string): void {
    const passive = pool.passive;
    const t = this.tracked.get(server);
    if (!passive || !t || this.closed || !server.healthy) return;
    const now = performance.now();
    if (t.passiveFails === 0 || now - t.passiveWindowStart > passive.fail_timeout_ms) {
      t.passiveFails = 0;
      t.passiveWindowStart = now;
    }
    if (++t.passiveFails < passive.max_fails) return;
    t.passiveFails = 0;
    const why = `passive: ${passive.max_fails} failure(s) within ${passive.fail_timeout_ms} ms, last: ${reason}`;
    if (pool.healthCheck) {
      t.checkPasses = 0;
      this.apply(t, { healthy: false }, `${why}; down until ${pool.healthCheck.rise} health check(s) pass`);
      return;
    }
    this.apply(t, { healthy: false }, why);
    t.passiveTimer = setTimeout(() => {
      t.passiveTimer = undefined;
      if (!this.closed) this.apply(t, { healthy: true }, `passive: fail_timeout ${passive.fail_timeout_ms} ms elapsed`);
    }, passive.fail_timeout_ms);
    t.passiveTimer.unref();
  }

  /** Admin API: `ready`, `drain` or `maint`. */
  setAdminState(pool: UpstreamPool, server: UpstreamServer, state: AdminState): void {
    const t = this.tracked.get(server);
    if (t) this.apply(t, { adminState: state }, `admin: ${state}`);
  }

  /** Admin API: a new weight (slow start, if running, scales it). */
  setWeight(pool: UpstreamPool, server: UpstreamServer, weight: number): void {
    const t = this.tracked.get(server);
    if (t) this.apply(t, { weight }, `admin: weight ${weight}`);
  }

  /** The replicated status of every server, by upstream in server order (what a new cluster worker starts from). */
  snapshot(): Record<string, ServerStatus[]> {
    const out: Record<string, ServerStatus[]> = {};
    for (const pool of this.pools.values()) out[pool.name] = pool.servers.map((s) => s.status);
    return out;
  }

  /** Every upstream and server; `counters` replaces the local traffic counters (cluster workers hold the real ones). */
  describe(counters?: ClusterCounters): UpstreamsView {
    return {
      upstreams: [...this.pools.values()].map((pool) => ({
        name: pool.name,
        queued: counters?.queued[pool.name] ?? pool.queue?.size ?? 0,
        servers: pool.servers.map((server, i) => this.describeServer(server, counters?.upstreams[pool.name]?.[i])),
      })),
    };
  }

  /** One server for the admin API. */
  describeServer(server: UpstreamServer, counters?: [number, number, number]): ServerView {
    const t = this.tracked.get(server);
    return {
      name: server.name,
      address: server.address,
      state: server.state,
      weight: server.weight,
      effectiveWeight: Math.round(server.effectiveWeight * 1000) / 1000,
      active: counters?.[0] ?? server.active,
      requests: counters?.[1] ?? server.requests,
      failures: counters?.[2] ?? server.failures,
      backup: server.backup,
      maxConn: server.maxConn,
      checkFails: t?.checkFails ?? 0,
      checkPasses: t?.checkPasses ?? 0,
      lastChange: server.lastChange,
    };
  }

  private onCheckResult(t: Tracked, result: CheckResult): void {
    const hc = t.pool.healthCheck;
    if (!hc || this.closed) return;
    if (result.ok) {
      t.checkPasses++;
      t.checkFails = 0;
      if (!t.server.healthy && t.checkPasses >= hc.rise) this.apply(t, { healthy: true }, `health check: ${result.detail} (${hc.rise}/${hc.rise})`);
    } else {
      t.checkFails++;
      t.checkPasses = 0;
      if (t.server.healthy && t.checkFails >= hc.fall) this.apply(t, { healthy: false }, `health check: ${result.detail} (${hc.fall}/${hc.fall})`);
    }
  }

  private apply(t: Tracked, change: Partial<ServerStatus>, reason: string): void {
    const { pool, server } = t;
    const transition = server.setStatus(change);
    this.onStatus?.(pool, t.index, server.status, reason);
    if (!transition) return;
    const event: ServerStateEvent = {
      event: 'server-state',
      upstream: pool.name,
      server: server.name,
      address: server.address,
      from: transition.from,
      to: transition.to,
      reason,
      atMs: server.lastChange,
    };
    this.onEvent?.(event);
    for (const s of this.subscribers) s(event);
    if (isMarkedDown(transition)) server.shutdownSessions(reason);
  }
}
