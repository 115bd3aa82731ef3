import type { IncomingMessage } from 'node:http';
import { createBalancer } from './balancers/create-balancer.ts';
import type { Balancer } from './balancers/balancer.ts';
import type { HealthCheckConfig, OnMarkedDown, PassiveConfig, TimeoutsConfig, UpstreamConfig } from './config-schema.ts';
import { ConnectionPool } from './connection-pool.ts';
import { formatHostPort } from './host-port.ts';
import { StickyCookie, takesPinned } from './sticky-cookie.ts';
import { retryPolicyFrom, type RetryPolicy } from './upstream-errors.ts';
import { ALL_BUSY, UpstreamQueue, type AllBusy } from './upstream-queue.ts';
import { UpstreamServer } from './upstream-server.ts';

/** Receives failures of real traffic for passive ejection: the monitor in-process, an IPC message in a cluster worker. */
export type FailureSink = (pool: UpstreamPool, server: UpstreamServer, reason: string) => void;

/** A named group of upstream servers with its balancer, failover policy and per-server connection pools. */
export class UpstreamPool {
  readonly name: string;
  readonly servers: readonly UpstreamServer[];
  readonly balancer: Balancer;
  /** Most attempts one request may make (1 + retries); with redispatch never more than the server count. */
  readonly maxAttempts: number;
  /** A retry goes to another server; false retries the one that failed. */
  readonly redispatch: boolean;
  readonly retryPolicy: RetryPolicy;
  readonly healthCheck: HealthCheckConfig | undefined;
  readonly passive: PassiveConfig | undefined;
  /** Statuses that count as passive failures; undefined when none do. */
  readonly failOnStatus: ReadonlySet<number> | undefined;
  readonly onMarkedDown: OnMarkedDown;
  /** The sticky cookie (`sticky`); undefined when requests are not pinned. */
  readonly sticky: StickyCookie | undefined;
  /** Idle timeout of an established Upgrade tunnel; 0 = none. */
  readonly tunnelTimeoutMs: number;
  /** Set by whoever owns server state; undefined without `passive`. */
  onFailure: FailureSink | undefined;
  /** Requests waiting for a server below its `max_conn`; undefined when no server has a limit. */
  readonly queue: UpstreamQueue | undefined;
  private readonly connections: ReadonlyMap<UpstreamServer, ConnectionPool>;

  constructor(name: string, config: UpstreamConfig, timeouts: TimeoutsConfig) {
    this.name = name;
    this.onMarkedDown = config.on_marked_down;
    this.servers = config.servers.map(
      (s) =>
        new UpstreamServer(s.address, {
          name: s.name,
          weight: s.weight,
          backup: s.backup,
          adminState: s.down ? 'maint' : 'ready',
          slowStartMs: config.slowstart_ms,
          trackSessions: config.on_marked_down === 'shutdown_sessions',
          maxConn: s.max_conn ?? config.default_max_conn ?? 0,
        }),
    );
    if (this.servers.some((s) => s.maxConn > 0)) {
      const queue = new UpstreamQueue(this.servers, {
        maxQueue: config.max_queue ?? Number.POSITIVE_INFINITY,
        timeoutMs: config.queue_timeout_ms ?? timeouts.connect_ms,
      });
      const onCapacity = (): void => queue.scheduleDrain();
      for (const s of this.servers) s.onCapacity = onCapacity;
      this.queue = queue;
    } else {
      this.queue = undefined;
    }
    this.balancer = createBalancer(config, this.servers);
    this.sticky =
      config.sticky === undefined
        ? undefined
        : new StickyCookie(
            config.sticky,
            config.servers.map((s, i) => ({ server: this.servers[i] as UpstreamServer, cookieValue: s.cookie_value ?? s.name ?? s.address })),
          );
    this.tunnelTimeoutMs = config.tunnel_timeout_ms;
    this.redispatch = config.redispatch;
    const retries = config.retries ?? this.servers.length - 1;
    this.maxAttempts = this.redispatch ? Math.min(1 + retries, this.servers.length) : 1 + retries;
    this.retryPolicy = retryPolicyFrom(config.retry_on);
    this.healthCheck = config.health_check;
    this.passive = config.passive;
    this.failOnStatus = config.passive && config.passive.fail_on_status.length > 0 ? new Set(config.passive.fail_on_status) : undefined;
    this.connections = new Map(
      this.servers.map((s) => [
        s,
        new ConnectionPool(`http://${formatHostPort(s.host, s.port)}`, {
          maxIdle: config.keepalive,
          idleMs: config.keepalive_timeout_ms,
          connectMs: timeouts.connect_ms,
          readMs: timeouts.read_ms,
        }),
      ]),
    );
  }

  /**
   * The server for the next attempt of `request`: the server its sticky cookie names
   * while that one takes it (`up` or `drain`) and was not tried yet, else the balancer's pick.
   */
  pick(tried: ReadonlySet<UpstreamServer> | undefined, request: IncomingMessage, pinned: UpstreamServer | undefined): UpstreamServer | undefined {
    if (pinned !== undefined && takesPinned(pinned) && (tried === undefined || !tried.has(pinned))) return pinned;
    return this.balancer.pick(tried, request);
  }

  /**
   * `pick` with `max_conn` taken into account: the server to use now, ALL_BUSY when the
   * request has to queue (every server it may use is at max_conn: the balancer skipped
   * them, or the one its cookie or hash names is full), undefined when none is left.
   */
  acquire(tried: ReadonlySet<UpstreamServer> | undefined, request: IncomingMessage, pinned: UpstreamServer | undefined): UpstreamServer | AllBusy | undefined {
    const server = this.pick(tried, request, pinned);
    if (this.queue === undefined) return server;
    if (server !== undefined) return server.full ? ALL_BUSY : server;
    for (const s of this.servers) {
      if (s.available && s.effectiveWeight > 0 && s.full && (tried === undefined || !tried.has(s))) return ALL_BUSY;
    }
    return undefined;
  }

  /** The connection pool of one of this pool's servers. */
  connectionsTo(server: UpstreamServer): ConnectionPool {
    const pool = this.connections.get(server);
    if (!pool) throw new Error(`server ${server.address} is not in upstream ${this.name}`);
    return pool;
  }

  /** A server by name, else by address. */
  findServer(nameOrAddress: string): UpstreamServer | undefined {
    return this.servers.find((s) => s.name === nameOrAddress) ?? this.servers.find((s) => s.address === nameOrAddress);
  }

  /** Reports a failed attempt for passive ejection (no-op without `passive`). */
  reportFailure(server: UpstreamServer, reason: string): void {
    if (this.passive !== undefined) this.onFailure?.(this, server, reason);
  }

  /** Closes every upstream connection and stops slow start timers. */
  async close(): Promise<void> {
    this.queue?.close();
    for (const s of this.servers) s.dispose();
    await Promise.all([...this.connections.values()].map((c) => c.close()));
  }
}
