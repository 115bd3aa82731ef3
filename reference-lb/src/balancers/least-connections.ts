import type { UpstreamServer } from '../upstream-server.ts';
import type { Balancer } from './balancer.ts';
import { pickTiered, splitTiers, type Tier, type Tiers } from './weighted-round-robin.ts';

/**
 * `balance: least_conn`, nginx's ngx_http_upstream_least_conn_module: the server with the
 * fewest requests in flight relative to its weight (least `active / effectiveWeight`,
 * compared by cross-multiplying, so weights 3:3:2 hold 3:3:2 of the in-flight requests);
 * servers tied on that ratio share by smooth weighted round robin, as nginx does. Slow
 * start and admin weights count through `effectiveWeight`. Servers not `up`, already
 * tried or at `max_conn` are skipped; backups are a second tier used when no primary is
 * left (not when primaries are merely at max_conn). `active` is per process.
 */
export class LeastConnections implements Balancer {
  private readonly tiers: Tiers;

  constructor(servers: readonly UpstreamServer[]) {
    this.tiers = splitTiers(servers);
  }

  pick(exclude: ReadonlySet<UpstreamServer> | undefined): UpstreamServer | undefined {
    return pickTiered(this.tiers, exclude, pickFrom);
  }
}

function usable(server: UpstreamServer, exclude: ReadonlySet<UpstreamServer> | undefined): boolean {
  return server.available && server.effectiveWeight > 0 && !(server.maxConn !== 0 && server.active >= server.maxConn) && (exclude === undefined || !exclude.has(server));
}

function pickFrom(t: Tier, exclude: ReadonlySet<UpstreamServer> | undefined): UpstreamServer | undefined {
  const { servers, current } = t;
  let best = -1;
  let many = false;
  for (let i = 0; i < servers.length; i++) {
    const server = servers[i] as UpstreamServer;
    if (!usable(server, exclude)) continue;
    if (best < 0) {
      best = i;
      many = false;
      continue;
    }
    const b = servers[best] as UpstreamServer;
    // active/weight < best.active/best.weight, without dividing.
    const lhs = server.active * b.effectiveWeight;
    const rhs = b.active * server.effectiveWeight;
    if (lhs < rhs) {
      best = i;
      many = false;
    } else if (lhs === rhs) {
      many = true;
    }
  }
  if (best < 0 || !many) return best < 0 ? undefined : servers[best];
  // Several servers share the least ratio: smooth weighted round robin among them.
  const leader = servers[best] as UpstreamServer;
  let total = 0;
  let pick = -1;
  for (let i = best; i < servers.length; i++) {
    const server = servers[i] as UpstreamServer;
    if (!usable(server, exclude) || server.active * leader.effectiveWeight !== leader.active * server.effectiveWeight) continue;
    const c = (current[i] as number) + server.effectiveWeight;
    current[i] = c;
    total += server.effectiveWeight;
    if (pick < 0 || c > (current[pick] as number)) pick = i;
  }
  current[pick] = (current[pick] as number) - total;
  return servers[pick];
}
