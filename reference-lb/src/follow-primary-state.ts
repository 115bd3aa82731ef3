import type { IpcPort, PrimaryMessage, WorkerMessage } from './cluster-messages.ts';
import type { MapRegistry } from './map-registry.ts';
import type { QueueCounters, TrafficCounters } from './upstream-monitor.ts';
import type { UpstreamPool } from './upstream-pool.ts';
import { isMarkedDown, type ServerStatus } from './upstream-server.ts';

/** A worker that gets no snapshot within this long starts from the config's initial state. */
export const STATE_SYNC_TIMEOUT_MS = 5000;

function apply(pools: ReadonlyMap<string, UpstreamPool>, upstream: string, index: number, status: ServerStatus, reason: string): void {
  const server = pools.get(upstream)?.servers[index];
  if (!server) return;
  const transition = server.setStatus(status);
  if (transition && isMarkedDown(transition)) server.shutdownSessions(reason);
}

function counters(pools: ReadonlyMap<string, UpstreamPool>): TrafficCounters {
  const out: TrafficCounters = {};
  for (const pool of pools.values()) out[pool.name] = pool.servers.map((s) => [s.active, s.requests, s.failures]);
  return out;
}

function queued(pools: ReadonlyMap<string, UpstreamPool>): QueueCounters {
  const out: QueueCounters = {};
  for (const pool of pools.values()) out[pool.name] = pool.queue?.size ?? 0;
  return out;
}

/**
 * The worker side of cluster state: applies the primary's snapshot and changes to this
 * worker's pools (cutting sessions for `shutdown_sessions` here, where they live) and
 * maps, sends passive failures to the primary, answers counter requests. Resolves once
 * the snapshot is applied (or after STATE_SYNC_TIMEOUT_MS), so the worker can listen
 * afterwards.
 */
export function followPrimaryState(pools: ReadonlyMap<string, UpstreamPool>, port: IpcPort<WorkerMessage, PrimaryMessage>, maps?: MapRegistry): Promise<void> {
  for (const pool of pools.values()) {
    if (pool.passive) {
      pool.onFailure = (p, server, reason) => port.send({ type: 'passive-failure', upstream: p.name, index: p.servers.indexOf(server), reason });
    }
  }
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, STATE_SYNC_TIMEOUT_MS);
    timer.unref();
    port.onMessage((message) => {
      switch (message.type) {
        case 'state-snapshot':
          for (const [upstream, statuses] of Object.entries(message.upstreams)) {
            statuses.forEach((status, index) => apply(pools, upstream, index, status, 'state from the primary'));
          }
          maps?.followSnapshot(message.maps);
          clearTimeout(timer);
          resolve();
          break;
        case 'server-status':
          apply(pools, message.upstream, message.index, message.status, message.reason);
          break;
        case 'map-change':
          maps?.follow(message.map, message.change, message.version);
          break;
        case 'counters-request':
          port.send({ type: 'counters', id: message.id, upstreams: counters(pools), queued: queued(pools) });
          break;
        case 'sync':
          port.send({ type: 'synced', id: message.id });
          break;
      }
    });
    port.send({ type: 'state-sync' });
  });
}
