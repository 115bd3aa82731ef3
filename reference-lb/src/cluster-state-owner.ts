import type { PrimaryMessage, WorkerMessage } from './cluster-messages.ts';
import type { EventSink } from './events.ts';
import { MapRegistry } from './map-registry.ts';
import type { UpstreamMap } from './upstream-map.ts';
import { UpstreamMonitor, type ClusterCounters } from './upstream-monitor.ts';
import type { UpstreamPool } from './upstream-pool.ts';

/** The admin API answers with what the workers that replied within this long reported. */
export const COUNTERS_TIMEOUT_MS = 500;

/** What the primary needs of a cluster worker. */
export interface WorkerHandle {
  send(message: PrimaryMessage): unknown;
  isConnected(): boolean;
}

interface PendingCounters {
  waiting: Set<WorkerHandle>;
  sum: ClusterCounters;
  done: () => void;
}

/**
 * The primary side of cluster state: runs the one UpstreamMonitor (on pools that serve
 * no traffic) and the one MapRegistry, broadcasts every status and map change to the
 * workers, gives a syncing worker a snapshot of both, feeds the workers' passive
 * failures to the monitor, and sums their traffic counters for the admin API.
 */
export class ClusterStateOwner {
  readonly monitor: UpstreamMonitor;
  readonly maps: MapRegistry;
  private readonly workers: () => Iterable<WorkerHandle>;
  private readonly pending = new Map<number, PendingCounters>();
  /** Workers that have not yet confirmed a `sync`, by sync id. */
  private readonly syncs = new Map<number, { waiting: Set<WorkerHandle>; done: () => void }>();
  private nextId = 1;

  constructor(
    pools: ReadonlyMap<string, UpstreamPool>,
    options: { onEvent?: EventSink; workers: () => Iterable<WorkerHandle>; maps?: ReadonlyMap<string, UpstreamMap> },
  ) {
    this.workers = options.workers;
    this.monitor = new UpstreamMonitor(pools, {
      onEvent: options.onEvent,
      onStatus: (pool, index, status, reason) => this.broadcast({ type: 'server-status', upstream: pool.name, index, status, reason }),
    });
    this.maps = new MapRegistry(options.maps ?? new Map(), {
      onEvent: options.onEvent,
      onChange: (map, change, version) => this.broadcast({ type: 'map-change', map, change, version }),
    });
  }

  /** Handles a worker's state message; false for messages that are not about state. */
  handle(worker: WorkerHandle, message: WorkerMessage): boolean {
    switch (message.type) {
      case 'state-sync':
        if (worker.isConnected()) worker.send({ type: 'state-snapshot', upstreams: this.monitor.snapshot(), maps: this.maps.snapshot() });
        return true;
      case 'passive-failure': {
        const pool = this.monitor.pools.get(message.upstream);
        const server = pool?.servers[message.index];
        if (pool && server) this.monitor.recordFailure(pool, server, message.reason);
        return true;
      }
      case 'counters': {
        const pending = this.pending.get(message.id);
        if (!pending || !pending.waiting.delete(worker)) return true;
        for (const [name, n] of Object.entries(message.queued)) pending.sum.queued[name] = (pending.sum.queued[name] ?? 0) + n;
        for (const [name, servers] of Object.entries(message.upstreams)) {
          const into = (pending.sum.upstreams[name] ??= []);
          servers.forEach((c, i) => {
            const t = (into[i] ??= [0, 0, 0]);
            t[0] += c[0];
            t[1] += c[1];
            t[2] += c[2];
          });
        }
        if (pending.waiting.size === 0) pending.done();
        return true;
      }
      case 'synced': {
        const sync = this.syncs.get(message.id);
        if (sync && sync.waiting.delete(worker) && sync.waiting.size === 0) sync.done();
        return true;
      }
      default:
        return false;
    }
  }

  /** A worker went away: stop waiting for its counters and syncs. */
  forget(worker: WorkerHandle): void {
    for (const pending of this.pending.values()) {
      if (pending.waiting.delete(worker) && pending.waiting.size === 0) pending.done();
    }
    for (const sync of this.syncs.values()) {
      if (sync.waiting.delete(worker) && sync.waiting.size === 0) sync.done();
    }
  }

  /**
   * Resolves once every worker has applied everything broadcast so far (a map change:
   * the admin API answers after this, so the next request through any worker sees it),
   * or after COUNTERS_TIMEOUT_MS for a worker that does not answer.
   */
  syncWorkers(): Promise<void> {
    const id = this.nextId++;
    const waiting = new Set([...this.workers()].filter((w) => w.isConnected()));
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.syncs.delete(id);
        resolve();
      };
      const timer = setTimeout(done, COUNTERS_TIMEOUT_MS);
      this.syncs.set(id, { waiting, done });
      if (waiting.size === 0) done();
      for (const w of waiting) w.send({ type: 'sync', id });
    });
  }

  /** `[active, requests, failures]` per server and queue lengths per upstream, summed over the workers. */
  collectCounters(): Promise<ClusterCounters> {
    const id = this.nextId++;
    const waiting = new Set([...this.workers()].filter((w) => w.isConnected()));
    return new Promise((resolve) => {
      const sum: ClusterCounters = { upstreams: {}, queued: {} };
      for (const pool of this.monitor.pools.values()) {
        sum.upstreams[pool.name] = pool.servers.map(() => [0, 0, 0]);
        sum.queued[pool.name] = 0;
      }
      const done = (): void => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(sum);
      };
      const timer = setTimeout(done, COUNTERS_TIMEOUT_MS);
      this.pending.set(id, { waiting, sum, done });
      if (waiting.size === 0) done();
      for (const w of waiting) w.send({ type: 'counters-request', id });
    });
  }

  close(): void {
    this.monitor.close();
    for (const pending of this.pending.values()) pending.done();
    for (const sync of this.syncs.values()) sync.done();
  }

  private broadcast(message: PrimaryMessage): void {
    for (const w of this.workers()) if (w.isConnected()) w.send(message);
  }
}
