import type { UpstreamConfig } from '../config-schema.ts';
import type { UpstreamServer } from '../upstream-server.ts';
import type { Balancer } from './balancer.ts';
import { ConsistentHash, parseHashKey } from './consistent-hash.ts';
import { LeastConnections } from './least-connections.ts';
import { SourceHash } from './source-hash.ts';
import { WeightedRoundRobin } from './weighted-round-robin.ts';

/** The balancer for an upstream's `balance` (and `hash_key`). */
export function createBalancer(config: Pick<UpstreamConfig, 'balance' | 'hash_key'>, servers: readonly UpstreamServer[]): Balancer {
  switch (config.balance) {
    case 'round_robin':
      return new WeightedRoundRobin(servers);
    case 'least_conn':
      return new LeastConnections(servers);
    case 'source_hash':
      return new SourceHash(servers);
    case 'consistent_hash': {
      const key = parseHashKey(config.hash_key ?? 'uri');
      if (key === undefined) throw new Error(`invalid hash_key ${config.hash_key}`);
      return new ConsistentHash(servers, key);
    }
  }
}
