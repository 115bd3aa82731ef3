import type { ListenerInfo } from './events.ts';
import type { MapChange, MapSnapshot } from './map-registry.ts';
import type { QueueCounters, TrafficCounters } from './upstream-monitor.ts';
import type { ServerStatus } from './upstream-server.ts';

/*
 * The IPC protocol of `workers: N` (node:cluster). The primary owns server state
 * (health checks, passive ejection, admin API) and maps, and workers follow it: they ask
 * for a snapshot before they listen, then apply every change as it is broadcast, report
 * the failures of real traffic, and answer counter requests for the admin API.
 */

/** Worker to primary. */
export type WorkerMessage =
  | { type: 'ready'; listeners: ListenerInfo[] }
  | { type: 'failed'; line: string }
  | { type: 'state-sync' }
  | { type: 'passive-failure'; upstream: string; index: number; reason: string }
  | { type: 'counters'; id: number; upstreams: TrafficCounters; queued: QueueCounters }
  /** Every message sent before the `sync` with this id has been applied. */
  | { type: 'synced'; id: number };

/** Primary to worker. */
export type PrimaryMessage =
  | { type: 'state-snapshot'; upstreams: Record<string, ServerStatus[]>; maps: MapSnapshot }
  | { type: 'server-status'; upstream: string; index: number; status: ServerStatus; reason: string }
  | { type: 'map-change'; map: string; change: MapChange; version: number }
  | { type: 'counters-request'; id: number }
  /** Answer `synced` once everything before this is applied (IPC is ordered, so: at once). */
  | { type: 'sync'; id: number };

/** One end of the cluster IPC channel. */
export interface IpcPort<Out, In> {
  send(message: Out): void;
  /** Subscribes to incoming messages; returns the unsubscribe function. */
  onMessage(listener: (message: In) => void): () => void;
}
