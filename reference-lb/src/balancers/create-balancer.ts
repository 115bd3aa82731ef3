import type { BalanceKind } from '../config-schema.ts';
import type { UpstreamServer } from '../upstream-server.ts';
import type { Balancer } from './balancer.ts';
import { WeightedRoundRobin } from './weighted-round-robin.ts';

/** The balancer for a config `balance` value. */
export function createBalancer(kind: BalanceKind, servers: readonly UpstreamServer[]): Balancer {
  switch (kind) {
    case 'round_robin':
      return new WeightedRoundRobin(servers);
  }
}
