import type { HeaderPolicy, RouteConfig } from './config-schema.ts';
import { RedirectTemplate } from './redirect-template.ts';
import type { UpstreamPool } from './upstream-pool.ts';

/** Send the request to an upstream pool. */
export interface ProxyAction {
  kind: 'proxy';
  pool: UpstreamPool;
  /** Removed from the start of the raw path; undefined keeps the path. */
  stripPrefix: string | undefined;
  headers: HeaderPolicy;
}

/** Answer with a redirect built from a template. */
export interface RedirectAction {
  kind: 'redirect';
  status: number;
  location: RedirectTemplate;
}

/** Close the connection without a response. */
export interface DenyAction {
  kind: 'deny';
}

/** What a matching route does. */
export type RouteAction = ProxyAction | RedirectAction | DenyAction;

interface CompiledRoute {
  prefix: string | undefined;
  exact: string | undefined;
  regex: RegExp | undefined;
  action: RouteAction;
}

/**
 * A listener's routes, tried in config order against the raw path (no query,
 * never decoded); the first match wins.
 */
export class Router {
  private readonly routes: readonly CompiledRoute[];

  constructor(routes: readonly RouteConfig[], pools: ReadonlyMap<string, UpstreamPool>, defaults: HeaderPolicy) {
    this.routes = routes.map((r) => ({
      prefix: r.match.prefix,
      exact: r.match.exact,
      regex: r.match.regex === undefined ? undefined : new RegExp(r.match.regex, r.match.ignore_case ? 'i' : ''),
      action: compileAction(r, pools, defaults),
    }));
  }

  /** The action of the first route matching `path`, or undefined (404). */
  match(path: string): RouteAction | undefined {
    for (const r of this.routes) {
      if (r.prefix !== undefined ? path.startsWith(r.prefix) : r.exact !== undefined ? path === r.exact : r.regex?.test(path)) {
        return r.action;
      }
    }
    return undefined;
  }
}

function compileAction(r: RouteConfig, pools: ReadonlyMap<string, UpstreamPool>, defaults: HeaderPolicy): RouteAction {
  if (r.proxy) {
    const pool = pools.get(r.proxy.upstream);
    if (!pool) throw new Error(`unknown upstream ${r.proxy.upstream}`);
    return {
      kind: 'proxy',
      pool,
      stripPrefix: r.proxy.strip_prefix,
      headers: {
        preserveHost: r.proxy.headers?.preserve_host ?? defaults.preserveHost,
        forwarded: r.proxy.headers?.forwarded ?? defaults.forwarded,
      },
    };
  }
  if (r.redirect) return { kind: 'redirect', status: r.redirect.status, location: RedirectTemplate.compile(r.redirect.location) };
  return { kind: 'deny' };
}

/**
 * The upstream path for a raw request target: `prefix` removed from the path, the
 * query kept byte for byte; an emptied path becomes "/" (nginx `proxy_pass http://up/`).
 */
export function stripPathPrefix(path: string, query: string, prefix: string): string {
  if (!path.startsWith(prefix)) return path + query;
  const rest = path.slice(prefix.length);
  return (rest.startsWith('/') ? rest : `/${rest}`) + query;
}
