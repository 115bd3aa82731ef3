import type { UpstreamServer } from '../upstream-server.ts';
import type { Balancer } from './balancer.ts';

/** Plain round robin over available servers, in config order (weights not yet honoured). */
export class RoundRobin implements Balancer {
  private readonly servers: readonly UpstreamServer[];
  private next = 0;

  constructor(servers: readonly UpstreamServer[]) {
    this.servers = servers;
  }

  pick(exclude: ReadonlySet<UpstreamServer> | undefined): UpstreamServer | undefined {
    const n = this.servers.length;
    for (let i = 0; i < n; i++) {
      const server = this.servers[this.next] as UpstreamServer;
      this.next = this.next + 1 === n ? 0 : this.next + 1;
      if (server.available && (exclude === undefined || !exclude.has(server))) return server;
    }
    return undefined;
  }
}
