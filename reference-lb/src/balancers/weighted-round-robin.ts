import type { UpstreamServer } from '../upstream-server.ts';
import type { Balancer } from './balancer.ts';

/** Servers of one tier (primary or backup) with their smooth-WRR running weights. */
export interface Tier {
  servers: readonly UpstreamServer[];
  current: Float64Array;
}

/** Primary and backup tiers of an upstream, shared by the weighted balancers. */
export interface Tiers {
  primary: Tier;
  backup: Tier | undefined;
}

function tier(servers: readonly UpstreamServer[]): Tier {
  return { servers, current: new Float64Array(servers.length) };
}

export function splitTiers(servers: readonly UpstreamServer[]): Tiers {
  const backups = servers.filter((s) => s.backup);
  return { primary: tier(servers.filter((s) => !s.backup)), backup: backups.length > 0 ? tier(backups) : undefined };
}

/** Picks from the primaries; the backups only when no primary is left (not when they are merely at max_conn). */
export function pickTiered(tiers: Tiers, exclude: ReadonlySet<UpstreamServer> | undefined, pickFrom: (t: Tier, exclude: ReadonlySet<UpstreamServer> | undefined) => UpstreamServer | undefined): UpstreamServer | undefined {
  const server = pickFrom(tiers.primary, exclude);
  if (server !== undefined || tiers.backup === undefined || anyFull(tiers.primary.servers, exclude)) return server;
  return pickFrom(tiers.backup, exclude);
}

/**
 * nginx's smooth weighted round robin (ngx_http_upstream_get_peer): every pick adds each
 * candidate's effective weight to its running weight, takes the largest and subtracts the
 * total from it. Equal weights give plain round robin in config order; weights 5,1,1 give
 * a,a,b,a,c,a,a rather than a burst of five. Effective weights may be fractional (slow
 * start). Backup servers are a second tier, tried only when no primary server is left for
 * this request (unavailable or already tried), as nginx does. A server at its `max_conn`
 * is skipped; when every primary left is, the answer is undefined rather than a backup
 * (HAProxy queues then: backups are for servers that are down, not busy).
 */
export class WeightedRoundRobin implements Balancer {
  private readonly tiers: Tiers;

  constructor(servers: readonly UpstreamServer[]) {
    this.tiers = splitTiers(servers);
  }

  pick(exclude: ReadonlySet<UpstreamServer> | undefined): UpstreamServer | undefined {
    return pickTiered(this.tiers, exclude, pickFrom);
  }
}

/** True when one of `servers` is usable for this request but at its max_conn (it will take requests again soon). */
export function anyFull(servers: readonly UpstreamServer[], exclude: ReadonlySet<UpstreamServer> | undefined): boolean {
  for (const server of servers) {
    if (server.available && server.effectiveWeight > 0 && server.full && (exclude === undefined || !exclude.has(server))) return true;
  }
  return false;
}

function pickFrom(t: Tier, exclude: ReadonlySet<UpstreamServer> | undefined): UpstreamServer | undefined {
  const { servers, current } = t;
  let best = -1;
  let total = 0;
  for (let i = 0; i < servers.length; i++) {
    const server = servers[i] as UpstreamServer;
    const weight = server.effectiveWeight;
    if (!server.available || weight <= 0 || (server.maxConn !== 0 && server.active >= server.maxConn) || (exclude !== undefined && exclude.has(server))) continue;
    const c = (current[i] as number) + weight;
    current[i] = c;
    total += weight;
    if (best < 0 || c > (current[best] as number)) best = i;
  }
  if (best < 0) return undefined;
  current[best] = (current[best] as number) - total;
  return servers[best];
}
