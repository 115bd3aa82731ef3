import type { IncomingMessage } from 'node:http';
import { findCookie } from '../cookie-header.ts';
import type { UpstreamServer } from '../upstream-server.ts';
import type { Balancer } from './balancer.ts';
import { hash32 } from './hash32.ts';
import { WeightedRoundRobin } from './weighted-round-robin.ts';

/** Points on the ring per unit of weight (ketama puts 160 per server; HAProxy 16 per weight unit). */
export const VNODES_PER_WEIGHT = 160;

/** What `balance: consistent_hash` hashes (config `hash_key`). */
export type HashKey =
  /** Path and query as sent (HAProxy `balance uri whole`). */
  | { source: 'uri' }
  /** Path only, without the query (HAProxy `balance uri`). */
  | { source: 'path' }
  /** The first header of that name, lower-cased here (HAProxy `balance hdr(name)`). */
  | { source: 'header'; name: string }
  /** The value of that cookie (HAProxy `balance hash req.cook(name)`). */
  | { source: 'cookie'; name: string };

/** RFC 9110 §5.6.2 token: header and cookie names. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Parses a config `hash_key`: `uri`, `path`, `header:<name>` or `cookie:<name>`; undefined when malformed. */
export function parseHashKey(text: string): HashKey | undefined {
  if (text === 'uri' || text === 'path') return { source: text };
  const colon = text.indexOf(':');
  const kind = text.slice(0, colon);
  const name = text.slice(colon + 1);
  if (colon < 0 || !TOKEN.test(name)) return undefined;
  if (kind === 'header') return { source: 'header', name: name.toLowerCase() };
  if (kind === 'cookie') return { source: 'cookie', name };
  return undefined;
}

/** One tier's ring: positions sorted ascending, with the owner and its virtual node number for each. */
interface Ring {
  servers: readonly UpstreamServer[];
  positions: Uint32Array;
  owners: Uint16Array;
  /** The n-th point of its server; point n takes part while n < effectiveWeight x VNODES_PER_WEIGHT. */
  ordinals: Uint32Array;
}

function buildRing(servers: readonly UpstreamServer[]): Ring {
  const counts = servers.map((s) => Math.round(s.weight * VNODES_PER_WEIGHT));
  const total = counts.reduce((sum, c) => sum + c, 0);
  const position = new Uint32Array(total);
  const owner = new Uint16Array(total);
  const ordinal = new Uint32Array(total);
  let k = 0;
  servers.forEach((server, i) => {
    // Placed by the server's name alone, so adding or removing another server moves none of its points.
    const prefix = `${server.name}#`;
    for (let n = 0; n < (counts[i] as number); n++, k++) {
      position[k] = hash32(prefix + n);
      owner[k] = i;
      ordinal[k] = n;
    }
  });
  // Sort point indexes rather than objects: a few hundred thousand points (many servers at weight 256) stay fast.
  const order = new Uint32Array(total);
  for (let i = 0; i < total; i++) order[i] = i;
  order.sort((x, y) => (position[x] as number) - (position[y] as number) || x - y);
  return {
    servers,
    positions: order.map((i) => position[i] as number),
    owners: Uint16Array.from(order, (i) => owner[i] as number),
    ordinals: order.map((i) => ordinal[i] as number),
  };
}

/** The first point at or after `hash`, wrapping around; 0 for an empty ring. */
function firstAtOrAfter(positions: Uint32Array, hash: number): number {
  let lo = 0;
  let hi = positions.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((positions[mid] as number) < hash) lo = mid + 1;
    else hi = mid;
  }
  return lo === positions.length ? 0 : lo;
}

function lookupIn(ring: Ring, hash: number, exclude: ReadonlySet<UpstreamServer> | undefined): UpstreamServer | undefined {
  const { positions, owners, ordinals, servers } = ring;
  const n = positions.length;
  let j = firstAtOrAfter(positions, hash);
  for (let k = 0; k < n; k++, j++) {
    if (j === n) j = 0;
    const server = servers[owners[j] as number] as UpstreamServer;
    if (!server.available || (ordinals[j] as number) >= server.effectiveWeight * VNODES_PER_WEIGHT) continue;
    if (exclude !== undefined && exclude.has(server)) continue;
    return server;
  }
  return undefined;
}

/**
 * A consistent-hash ring (Karger et al.; ketama's layout): each server owns
 * VNODES_PER_WEIGHT x weight points at hash32(`<name>#<n>`), and a key goes to the owner
 * of the first point at or after hash32(key), clockwise. A server that is not `up`, or
 * was already tried, is skipped, so its keys go to the next server on the ring and every
 * other key stays where it was: removing one of N servers moves only its ~1/N of the
 * keys, adding one moves ~1/(N+1). Slow start and admin weights below the configured
 * weight take part by using only a server's first effectiveWeight x VNODES_PER_WEIGHT
 * points (HAProxy does the same); a weight raised above the configured one counts as the
 * configured one. Backup servers have a ring of their own, used when no primary is left.
 */
export class HashRing {
  private readonly primary: Ring;
  private readonly backup: Ring | undefined;

  constructor(servers: readonly UpstreamServer[]) {
    this.primary = buildRing(servers.filter((s) => !s.backup));
    const backups = servers.filter((s) => s.backup);
    this.backup = backups.length > 0 ? buildRing(backups) : undefined;
  }

  /** The server for a 32-bit key hash, or undefined when none is available and untried. */
  lookup(hash: number, exclude?: ReadonlySet<UpstreamServer>): UpstreamServer | undefined {
    const server = lookupIn(this.primary, hash, exclude);
    if (server !== undefined || this.backup === undefined) return server;
    return lookupIn(this.backup, hash, exclude);
  }
}

/** Where the path starts in a request target: 0 for origin-form, after the authority for absolute-form, -1 when it has no path. */
function pathStart(url: string): number {
  if (url.charCodeAt(0) === 47 /* / */) return 0;
  const scheme = url.indexOf('://');
  if (scheme < 0) return 0;
  return url.indexOf('/', scheme + 3);
}

function headerValue(raw: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return raw[i + 1];
  }
  return undefined;
}

/**
 * `balance: consistent_hash`: requests with the same key go to the same server for as
 * long as it is available (HAProxy `balance uri whole` + `hash-type consistent`). The
 * key is taken from the request as the client sent it (before `strip_prefix`). A request
 * without the key (header or cookie absent or empty) is balanced by weighted round robin,
 * as HAProxy does.
 */
export class ConsistentHash implements Balancer {
  readonly ring: HashRing;
  readonly key: HashKey;
  private readonly fallback: WeightedRoundRobin;

  constructor(servers: readonly UpstreamServer[], key: HashKey) {
    this.ring = new HashRing(servers);
    this.key = key;
    this.fallback = new WeightedRoundRobin(servers);
  }

  pick(exclude: ReadonlySet<UpstreamServer> | undefined, request: IncomingMessage): UpstreamServer | undefined {
    const key = this.key;
    switch (key.source) {
      case 'uri':
      case 'path': {
        const url = request.url ?? '/';
        const start = pathStart(url);
        // Absolute-form without a path (`http://host`) is the path "/".
        if (start < 0) return this.ring.lookup(hash32('/'), exclude);
        const q = key.source === 'path' ? url.indexOf('?', start) : -1;
        return this.ring.lookup(hash32(url, start, q < 0 ? url.length : q), exclude);
      }
      case 'header': {
        const value = headerValue(request.rawHeaders, key.name);
        return value ? this.ring.lookup(hash32(value), exclude) : this.fallback.pick(exclude);
      }
      case 'cookie': {
        const value = findCookie(request.rawHeaders, key.name);
        return value ? this.ring.lookup(hash32(value), exclude) : this.fallback.pick(exclude);
      }
    }
  }
}
