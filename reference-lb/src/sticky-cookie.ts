import type { StickyConfig } from './config-schema.ts';
import { findCookie, stripCookie } from './cookie-header.ts';
import type { UpstreamServer } from './upstream-server.ts';

/** Statuses a cache may store without explicit freshness information (RFC 9110 §15.1). */
const HEURISTICALLY_CACHEABLE: ReadonlySet<number> = new Set([200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501]);

/** Cache-Control directives that already keep a response out of shared caches. */
const NOT_SHARED = /\b(?:private|no-cache|no-store)\b/i;

/** A server of a sticky upstream and the cookie value that names it. */
export interface StickyServer {
  server: UpstreamServer;
  cookieValue: string;
}

/**
 * True when a request pinned to `server` may go there: it is `up`, or `drain` (HAProxy
 * keeps honouring persistence on a draining server; only new clients stay away).
 */
export function takesPinned(server: UpstreamServer): boolean {
  return server.state === 'up' || server.state === 'drain';
}

/**
 * HAProxy's `cookie <name> insert [indirect] [nocache]`: a response from a server the
 * client was not pinned to (first visit, unknown value, pinned server down, redispatch)
 * gets `Set-Cookie: <name>=<value>; path=/`; a request whose cookie names a server that
 * takes it goes there. The upstream's own cookie of that name is dropped from responses.
 */
export class StickyCookie {
  readonly name: string;
  readonly indirect: boolean;
  readonly nocache: boolean;
  private readonly byValue: ReadonlyMap<string, UpstreamServer>;
  /** The Set-Cookie value for each server, built once. */
  private readonly setCookie: ReadonlyMap<UpstreamServer, string>;
  private readonly ownPrefix: string;

  constructor(config: StickyConfig, servers: readonly StickyServer[]) {
    this.name = config.cookie;
    this.indirect = config.indirect;
    this.nocache = config.nocache;
    this.byValue = new Map(servers.map((s) => [s.cookieValue, s.server]));
    this.setCookie = new Map(servers.map((s) => [s.server, `${config.cookie}=${s.cookieValue}; path=/`]));
    this.ownPrefix = `${config.cookie}=`;
  }

  /** The server the request's cookie names, whatever its state; undefined without the cookie or for an unknown value. */
  pinnedServer(rawHeaders: readonly string[]): UpstreamServer | undefined {
    const value = findCookie(rawHeaders, this.name);
    return value === undefined ? undefined : this.byValue.get(value);
  }

  /** With `indirect`: removes the cookie from the upstream request head (other cookies keep their bytes). */
  stripRequest(headers: string[]): void {
    if (this.indirect) stripCookie(headers, this.name);
  }

  /**
   * Edits a response head on its way to the client: drops the upstream's own Set-Cookie of
   * this name and, when `server` is not the one the request was pinned to, appends
   * ours; with `nocache` also `Cache-Control: private` if the response could otherwise be
   * stored by a shared cache (GET/HEAD, a heuristically cacheable status, and no
   * private/no-cache/no-store already).
   */
  applyToResponse(headers: string[], status: number, method: string | undefined, server: UpstreamServer, pinned: UpstreamServer | undefined): void {
    let privateAlready = false;
    for (let i = 0; i < headers.length; ) {
      const lower = (headers[i] as string).toLowerCase();
      const value = headers[i + 1] as string;
      if (lower === 'set-cookie' && value.trimStart().startsWith(this.ownPrefix)) {
        headers.splice(i, 2);
        continue;
      }
      if (lower === 'cache-control' && NOT_SHARED.test(value)) privateAlready = true;
      i += 2;
    }
    if (server === pinned) return;
    headers.push('Set-Cookie', this.setCookie.get(server) as string);
    if (this.nocache && !privateAlready && (method === 'GET' || method === 'HEAD') && HEURISTICALLY_CACHEABLE.has(status)) {
      headers.push('Cache-Control', 'private');
    }
  }
}
