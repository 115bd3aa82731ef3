import { createBalancer } from './balancers/create-balancer.ts';
import type { Balancer } from './balancers/balancer.ts';
import type { TimeoutsConfig, UpstreamConfig } from './config-schema.ts';
import { ConnectionPool } from './connection-pool.ts';
import { formatHostPort } from './host-port.ts';
import { UpstreamServer } from './upstream-server.ts';

/** A named group of upstream servers with its balancer and per-server connection pools. */
export class UpstreamPool {
  readonly name: string;
  readonly servers: readonly UpstreamServer[];
  readonly balancer: Balancer;
  /** Most attempts one request may make (1 + retries), never more than the server count. */
  readonly maxAttempts: number;
  private readonly connections: ReadonlyMap<UpstreamServer, ConnectionPool>;

  constructor(name: string, config: UpstreamConfig, timeouts: TimeoutsConfig) {
    this.name = name;
    this.servers = config.servers.map((s) => new UpstreamServer(s.address, s.name ?? s.address, s.down ? 'down' : 'up'));
    this.balancer = createBalancer(config.balance, this.servers);
    const retries = config.retries ?? this.servers.length - 1;
    this.maxAttempts = Math.min(1 + retries, this.servers.length);
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

  /** The connection pool of one of this pool's servers. */
  connectionsTo(server: UpstreamServer): ConnectionPool {
    const pool = this.connections.get(server);
    if (!pool) throw new Error(`server ${server.address} is not in upstream ${this.name}`);
    return pool;
  }

  /** Closes every upstream connection. */
  async close(): Promise<void> {
    await Promise.all([...this.connections.values()].map((c) => c.close()));
  }
}
