import type { IncomingMessage } from 'node:http';
import type { UpstreamServer } from '../upstream-server.ts';
import type { Balancer } from './balancer.ts';
import { HashRing } from './consistent-hash.ts';
import { hash32 } from './hash32.ts';

/** Prefix of an IPv4 client on a dual-stack listener (RFC 4291 §2.5.5.2). */
const V4_MAPPED = '::ffff:';

/**
 * `balance: source_hash` (nginx `ip_hash`, HAProxy `balance source`): the client's
 * socket address is the key on a consistent-hash ring, so one client keeps its server for
 * as long as that server is available, and a server going away moves only its own
 * clients. The whole address is hashed, IPv4 included (nginx hashes only the first three
 * octets, so a /24 shares a server); `::ffff:a.b.c.d` counts as `a.b.c.d`.
 * X-Forwarded-For is not looked at: the peer of the TCP connection decides.
 */
export class SourceHash implements Balancer {
  readonly ring: HashRing;

  constructor(servers: readonly UpstreamServer[]) {
    this.ring = new HashRing(servers);
  }

  pick(exclude: ReadonlySet<UpstreamServer> | undefined, request: IncomingMessage): UpstreamServer | undefined {
    const address = request.socket.remoteAddress ?? '';
    const start = address.startsWith(V4_MAPPED) && address.includes('.', V4_MAPPED.length) ? V4_MAPPED.length : 0;
    return this.ring.lookup(hash32(address, start), exclude);
  }
}
