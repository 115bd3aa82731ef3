import type { MapConfig } from './config-schema.ts';
import { findCookie } from './cookie-header.ts';
import type { AuthenticatedUser } from './basic-auth.ts';
import type { UpstreamPool } from './upstream-pool.ts';

/** What a map lookup uses as its key (a route's `proxy.map.key`). */
export type MapKey =
  /** The first field of that name, lower-cased here (HAProxy `req.hdr(name)`). */
  | { source: 'header'; name: string }
  /** The n-th (1-based) segment of the raw path: `/api/node1/x` has `api`, `node1`, `x`. */
  | { source: 'path_segment'; index: number }
  | { source: 'cookie'; name: string }
  /** The user the route's `auth` accepted (HAProxy `http_auth_group(<userlist>)` returns it too). */
  | { source: 'auth_user' }
  /** The first group, in config order, of that user. */
  | { source: 'auth_group' };

/** RFC 9110 §5.6.2 token: header and cookie names. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Parses a `proxy.map.key`; undefined when malformed. */
export function parseMapKey(text: string): MapKey | undefined {
  if (text === 'auth_user' || text === 'auth_group') return { source: text };
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  const kind = text.slice(0, colon);
  const arg = text.slice(colon + 1);
  if (kind === 'path_segment') return /^[1-9][0-9]{0,2}$/.test(arg) ? { source: 'path_segment', index: Number(arg) } : undefined;
  if (!TOKEN.test(arg)) return undefined;
  if (kind === 'header') return { source: 'header', name: arg.toLowerCase() };
  if (kind === 'cookie') return { source: 'cookie', name: arg };
  return undefined;
}

/** The n-th (1-based) segment of a raw path, or undefined when it is missing or empty. */
function pathSegment(path: string, index: number): string | undefined {
  let start = 1;
  for (let n = 1; n < index; n++) {
    const slash = path.indexOf('/', start);
    if (slash < 0) return undefined;
    start = slash + 1;
  }
  let end = path.indexOf('/', start);
  if (end < 0) end = path.length;
  return end > start ? path.slice(start, end) : undefined;
}

/** The key of one request, or undefined when the request has none (header, cookie or segment absent or empty). */
export function mapKeyOf(key: MapKey, path: string, rawHeaders: readonly string[], user: AuthenticatedUser | undefined): string | undefined {
  switch (key.source) {
    case 'header': {
      const name = key.name;
      for (let i = 0; i < rawHeaders.length; i += 2) {
        const field = rawHeaders[i] as string;
        if (field.length === name.length && field.toLowerCase() === name) return rawHeaders[i + 1] || undefined;
      }
      return undefined;
    }
    case 'path_segment':
      return pathSegment(path, key.index);
    case 'cookie':
      return findCookie(rawHeaders, key.name) || undefined;
    case 'auth_user':
      return user?.name;
    case 'auth_group':
      return user?.groups[0];
  }
}

/** A line of a map file that cannot be used. */
export class MapFileError extends Error {
  override readonly name = 'MapFileError';
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.line = line;
  }
}

/**
 * Parses HAProxy's map file format: one `key value` per line, separated by spaces or tabs
 * (the value is the rest of the line, trimmed), `#` comment lines and blank lines ignored.
 * A line without a value or a key given twice is an error (MapFileError naming the line).
 */
export function parseMapFile(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^(\S+)[ \t]+(.+)$/.exec(line);
    if (!m) throw new MapFileError(i + 1, `expected "<key> <value>", got ${JSON.stringify(line.length > 60 ? `${line.slice(0, 57)}...` : line)}`);
    const key = m[1] as string;
    if (entries.has(key)) throw new MapFileError(i + 1, `duplicate key ${JSON.stringify(key)}`);
    entries.set(key, (m[2] as string).trim());
  });
  return entries;
}

/** A map as the admin API shows it. */
export interface MapView {
  name: string;
  /** The file it was loaded from (absolute), or null for inline `entries`. */
  file: string | null;
  /** Upstream for keys that are not in the map, or null (503). */
  default: string | null;
  /** Bumped by every change; workers use it to apply changes in order. */
  version: number;
  entries: Record<string, string>;
}

/**
 * A named map from a request key to an upstream (HAProxy `use_backend
 * %[req.hdr(x-node-name),map(file,default)]`): exact, case-sensitive string keys, values
 * that are upstream names. Lookups read the current table; every change swaps or edits
 * it between two requests (JavaScript runs one at a time), so the very next request sees
 * it and none is dropped. Changes come from the owner (MapRegistry) only.
 */
export class UpstreamMap {
  readonly name: string;
  /** Absolute path of the map file, or undefined for inline entries. */
  readonly file: string | undefined;
  readonly defaultPool: UpstreamPool | undefined;
  version = 0;
  private table: Map<string, UpstreamPool>;
  private readonly pools: ReadonlyMap<string, UpstreamPool>;

  /** `config.entries` is filled in from `file` by config-files.ts. */
  constructor(name: string, config: MapConfig, pools: ReadonlyMap<string, UpstreamPool>) {
    this.name = name;
    this.file = config.file;
    this.pools = pools;
    this.defaultPool = config.default === undefined ? undefined : pools.get(config.default);
    this.table = this.resolve(Object.entries(config.entries ?? {}));
  }

  /** The upstream for `key`: its entry, else the default, else undefined. */
  lookup(key: string | undefined): UpstreamPool | undefined {
    if (key === undefined) return this.defaultPool;
    return this.table.get(key) ?? this.defaultPool;
  }

  get size(): number {
    return this.table.size;
  }

  has(key: string): boolean {
    return this.table.has(key);
  }

  /** Upstream names that are not defined, among `values`. */
  unknownUpstreams(values: Iterable<string>): string[] {
    const out: string[] = [];
    for (const v of values) if (!this.pools.has(v) && !out.includes(v)) out.push(v);
    return out;
  }

  /** Names of the defined upstreams (for error messages). */
  upstreamNames(): string[] {
    return [...this.pools.keys()];
  }

  /** Sets one entry; the value must name an upstream (checked by the caller). */
  set(key: string, upstream: string): void {
    this.table.set(key, this.pool(upstream));
  }

  /** Removes one entry; false when it was not there. */
  delete(key: string): boolean {
    return this.table.delete(key);
  }

  /** Replaces every entry at once (HAProxy `prepare map` + `commit map`). */
  replace(entries: Iterable<[string, string]>): void {
    this.table = this.resolve(entries);
  }

  /** Every entry as key -> upstream name. */
  entries(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, pool] of this.table) out[k] = pool.name;
    return out;
  }

  view(): MapView {
    return { name: this.name, file: this.file ?? null, default: this.defaultPool?.name ?? null, version: this.version, entries: this.entries() };
  }

  private resolve(entries: Iterable<[string, string]>): Map<string, UpstreamPool> {
    const table = new Map<string, UpstreamPool>();
    for (const [k, v] of entries) table.set(k, this.pool(v));
    return table;
  }

  private pool(name: string): UpstreamPool {
    const pool = this.pools.get(name);
    if (!pool) throw new Error(`unknown upstream ${JSON.stringify(name)}`);
    return pool;
  }
}

/** One UpstreamMap per configured map. */
export function createMaps(maps: Readonly<Record<string, MapConfig>>, pools: ReadonlyMap<string, UpstreamPool>): Map<string, UpstreamMap> {
  const out = new Map<string, UpstreamMap>();
  for (const [name, config] of Object.entries(maps)) out.set(name, new UpstreamMap(name, config, pools));
  return out;
}
