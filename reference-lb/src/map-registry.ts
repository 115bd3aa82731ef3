import { readFile } from 'node:fs/promises';
import { LbError } from './errors.ts';
import type { EventSink, MapUpdateEvent } from './events.ts';
import { parseMapFile, type UpstreamMap } from './upstream-map.ts';

/** A change to one map, as the admin API makes it and the cluster primary broadcasts it. */
export type MapChange =
  | { op: 'set'; key: string; value: string }
  | { op: 'delete'; key: string }
  /** Every entry at once (HAProxy `prepare map` + `commit map`). */
  | { op: 'replace'; entries: Record<string, string> }
  /** The map file read again; applied like `replace`. */
  | { op: 'reload'; entries: Record<string, string> };

/** Every map's entries and version: what a new cluster worker starts from. */
export type MapSnapshot = Record<string, { entries: Record<string, string>; version: number }>;

/** Called after every change the owner makes, to send it to cluster workers. */
export type MapChangeListener = (name: string, change: MapChange, version: number) => void;

function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The maps of one LB and the one place they change. As the owner (a single process, or
 * the cluster primary) it validates a change, applies it, bumps the map's version, emits
 * the `map-update` event and hands the change to `onChange`; a cluster worker instead
 * follows the primary's changes (`follow`, `followSnapshot`) in version order, silently.
 * Errors are LbErrors with the admin API's codes (LB_ERR_ADMIN_NOT_FOUND, _BAD_REQUEST).
 */
export class MapRegistry {
  readonly maps: ReadonlyMap<string, UpstreamMap>;
  private readonly onEvent: EventSink | undefined;
  private readonly onChange: MapChangeListener | undefined;
  private readonly subscribers = new Set<(event: MapUpdateEvent) => void>();

  constructor(maps: ReadonlyMap<string, UpstreamMap>, options: { onEvent?: EventSink | undefined; onChange?: MapChangeListener } = {}) {
    this.maps = maps;
    this.onEvent = options.onEvent;
    this.onChange = options.onChange;
  }

  /** Receives every map-update event until the returned function is called. */
  subscribe(listener: (event: MapUpdateEvent) => void): () => void {
    this.subscribers.add(listener);
    return () => this.subscribers.delete(listener);
  }

  /** The map called `name`; LB_ERR_ADMIN_NOT_FOUND when there is none. */
  get(name: string): UpstreamMap {
    const map = this.maps.get(name);
    if (!map) throw new LbError('LB_ERR_ADMIN_NOT_FOUND', `unknown map ${JSON.stringify(name)}`);
    return map;
  }

  /** Validates and applies a change as the owner; returns the event it emitted. */
  update(name: string, change: MapChange): MapUpdateEvent {
    const map = this.get(name);
    switch (change.op) {
      case 'set':
        this.checkValues(map, [change.value]);
        map.set(change.key, change.value);
        break;
      case 'delete':
        if (!map.delete(change.key)) throw new LbError('LB_ERR_ADMIN_NOT_FOUND', `map ${JSON.stringify(name)} has no key ${JSON.stringify(change.key)}`);
        break;
      case 'replace':
      case 'reload':
        this.checkValues(map, Object.values(change.entries));
        map.replace(Object.entries(change.entries));
        break;
    }
    map.version++;
    const event: MapUpdateEvent = {
      event: 'map-update',
      map: name,
      op: change.op,
      ...(change.op === 'set' ? { key: change.key, value: change.value } : change.op === 'delete' ? { key: change.key } : {}),
      entries: map.size,
      version: map.version,
      atMs: epochMs(),
    };
    this.onChange?.(name, change, map.version);
    this.onEvent?.(event);
    for (const s of this.subscribers) s(event);
    return event;
  }

  /** Reads the map's file again and replaces every entry with it (the file is the source of truth, as in HAProxy). */
  async reload(name: string): Promise<MapUpdateEvent> {
    const map = this.get(name);
    if (map.file === undefined) throw new LbError('LB_ERR_ADMIN_BAD_REQUEST', `map ${JSON.stringify(name)} has no file to reload (its entries are inline)`);
    let text: string;
    try {
      text = await readFile(map.file, 'utf8');
    } catch (err) {
      throw new LbError('LB_ERR_ADMIN_BAD_REQUEST', `cannot read ${JSON.stringify(map.file)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
    let entries: Map<string, string>;
    try {
      entries = parseMapFile(text);
    } catch (err) {
      throw new LbError('LB_ERR_ADMIN_BAD_REQUEST', `${map.file}: ${(err as Error).message}`, { cause: err });
    }
    return this.update(name, { op: 'reload', entries: Object.fromEntries(entries) });
  }

  /** Every map's entries and version. */
  snapshot(): MapSnapshot {
    const out: MapSnapshot = {};
    for (const map of this.maps.values()) out[map.name] = { entries: map.entries(), version: map.version };
    return out;
  }

  /** Cluster worker: applies a change the primary made, unless this worker already has it (version order). */
  follow(name: string, change: MapChange, version: number): void {
    const map = this.maps.get(name);
    if (!map) return;
    if (change.op === 'replace' || change.op === 'reload') {
      if (version <= map.version) return;
      map.replace(Object.entries(change.entries));
    } else {
      // A delta applies only on top of the version before it; anything else is covered by the snapshot.
      if (version !== map.version + 1) return;
      if (change.op === 'set') map.set(change.key, change.value);
      else map.delete(change.key);
    }
    map.version = version;
  }

  /** Cluster worker: the primary's snapshot, for every map this worker is not already ahead on. */
  followSnapshot(snapshot: MapSnapshot): void {
    for (const [name, { entries, version }] of Object.entries(snapshot)) {
      const map = this.maps.get(name);
      if (!map || version < map.version) continue;
      map.replace(Object.entries(entries));
      map.version = version;
    }
  }

  private checkValues(map: UpstreamMap, values: Iterable<string>): void {
    const unknown = map.unknownUpstreams(values);
    if (unknown.length > 0) {
      throw new LbError('LB_ERR_ADMIN_BAD_REQUEST', `unknown upstream ${JSON.stringify(unknown[0])} (defined: ${map.upstreamNames().join(', ') || 'none'})`);
    }
  }
}
