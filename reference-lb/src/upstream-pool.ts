import http from 'node:http';
import type { Socket } from 'node:net';
import { createBalancer } from './balancers/create-balancer.ts';
import type { Balancer } from './balancers/balancer.ts';
import type { UpstreamConfig } from './config-schema.ts';
import { UpstreamServer } from './upstream-server.ts';

/*
 * Why node:http's Agent and not undici: the proxy needs the socket lifecycle that the
 * Agent exposes (`'socket'` before connect, `reusedSocket`) to tell a connect failure,
 * which is always safe to retry and must not have consumed the client's body, from a
 * failure after the request went out; it takes and returns raw header arrays, so
 * duplicates and case survive both ways; and it accepts every header a client may
 * legally send, where undici's dispatcher rejects some (Expect, Upgrade) outright.
 */

/** An http.Agent whose idle sockets close after `idleMs` and whose reused sockets lose that timer. */
class PooledAgent extends http.Agent {
  private readonly idleMs: number;

  constructor(options: http.AgentOptions & { idleMs: number }) {
    super(options);
    this.idleMs = options.idleMs;
  }

  override keepSocketAlive(socket: Socket): boolean {
    const keep = super.keepSocketAlive(socket);
    // The Agent destroys a free socket that times out.
    if (keep) socket.setTimeout(this.idleMs);
    return keep;
  }

  override reuseSocket(socket: Socket, request: http.ClientRequest): void {
    socket.setTimeout(0);
    super.reuseSocket(socket, request);
  }
}

/** A named group of upstream servers with its balancer and connection pool. */
export class UpstreamPool {
  readonly name: string;
  readonly servers: readonly UpstreamServer[];
  readonly balancer: Balancer;
  /** Shared by all servers of the pool; keeps up to `keepalive` idle connections per server. */
  readonly agent: http.Agent;
  /** Most attempts one request may make (1 + retries), never more than the server count. */
  readonly maxAttempts: number;

  constructor(name: string, config: UpstreamConfig) {
    this.name = name;
    this.servers = config.servers.map((s) => new UpstreamServer(s.address, s.down ? 'down' : 'up'));
    this.balancer = createBalancer(config.balance, this.servers);
    const retries = config.retries ?? this.servers.length - 1;
    this.maxAttempts = Math.min(1 + retries, this.servers.length);
    this.agent = new PooledAgent({
      keepAlive: config.keepalive > 0,
      maxFreeSockets: Math.max(config.keepalive, 1),
      maxSockets: Infinity,
      // LIFO reuses the warmest socket and lets surplus idle ones time out.
      scheduling: 'lifo',
      noDelay: true,
      idleMs: config.keepalive_timeout_ms,
    });
  }

  /** Closes every pooled connection. */
  close(): void {
    this.agent.destroy();
  }
}
