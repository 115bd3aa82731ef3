import type { IncomingMessage } from 'node:http';
import { BasicAuth, type AuthenticatedUser } from './basic-auth.ts';
import type { HeaderMatchConfig, HeaderPolicy, ResponseHeadersConfig, RouteConfig } from './config-schema.ts';
import { HeaderRules } from './header-rules.ts';
import { RateLimiter } from './rate-limiter.ts';
import { RedirectTemplate } from './redirect-template.ts';
import { mapKeyOf, parseMapKey, type MapKey, type UpstreamMap } from './upstream-map.ts';
import type { UpstreamPool } from './upstream-pool.ts';

/** Send the request to an upstream pool: a fixed one, or the one a map gives. */
export interface ProxyAction {
  kind: 'proxy';
  /** The upstream; undefined when `map` picks it per request. */
  pool: UpstreamPool | undefined;
  map: { map: UpstreamMap; key: MapKey } | undefined;
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

/** Answer from the LB itself with a fixed response. */
export interface RespondAction {
  kind: 'respond';
  status: number;
  body: Buffer;
  /** [name, value, ...], Content-Type included. */
  headers: readonly string[];
}

/** What a matching route does. */
export type RouteAction = ProxyAction | RedirectAction | DenyAction | RespondAction;

/** One header condition of a route's match. */
interface HeaderCondition {
  /** Lower-cased. */
  name: string;
  /** true/false for `present`; undefined when a value test decides. */
  present: boolean | undefined;
  test: ((value: string) => boolean) | undefined;
}

/** A route ready for requests: its conditions, its action and what runs before it. */
export interface CompiledRoute {
  prefix: string | undefined;
  exact: string | undefined;
  regex: RegExp | undefined;
  /** Allowed methods; undefined: any. */
  methods: ReadonlySet<string> | undefined;
  /** Header conditions, all of which must hold; undefined: none. */
  headers: readonly HeaderCondition[] | undefined;
  action: RouteAction;
  /** Checked first (nginx's preaccess phase runs before access). */
  rateLimit: RateLimiter | undefined;
  auth: BasicAuth | undefined;
  /** The listener's response header rules followed by the route's; undefined when there are none. */
  responseHeaders: HeaderRules | undefined;
}

/** Options of a listener's router that are not in its routes. */
export interface RouterOptions {
  maps?: ReadonlyMap<string, UpstreamMap>;
  /** The listener's `response_headers`. */
  responseHeaders?: ResponseHeadersConfig | undefined;
  /** Clock of the rate limiters (ms, monotonic); tests inject one. */
  now?: () => number;
}

function compileHeaderCondition(h: HeaderMatchConfig): HeaderCondition {
  const name = h.name.toLowerCase();
  if (h.present !== undefined) return { name, present: h.present, test: undefined };
  let test: (value: string) => boolean;
  if (h.regex !== undefined) {
    const re = new RegExp(h.regex, h.ignore_case ? 'i' : '');
    test = (v) => re.test(v);
  } else if (h.ignore_case) {
    const want = (h.value ?? h.prefix ?? '').toLowerCase();
    test = h.value !== undefined ? (v) => v.toLowerCase() === want : (v) => v.toLowerCase().startsWith(want);
  } else {
    const want = h.value ?? h.prefix ?? '';
    test = h.value !== undefined ? (v) => v === want : (v) => v.startsWith(want);
  }
  return { name, present: undefined, test };
}

/** True when the raw headers satisfy `c`: a field of that name passes the test (any of them), or is present/absent as asked. */
function headerHolds(c: HeaderCondition, raw: readonly string[]): boolean {
  const name = c.name;
  for (let i = 0; i < raw.length; i += 2) {
    const field = raw[i] as string;
    if (field.length !== name.length || field.toLowerCase() !== name) continue;
    if (c.test === undefined) return c.present as boolean;
    if (c.test(raw[i + 1] as string)) return true;
  }
  return c.present === false;
}

/**
 * A listener's routes, tried in config order against the raw path (no query, never
 * decoded), the method and the headers; the first route whose every condition holds wins.
 */
export class Router {
  /** In config order. */
  readonly routes: readonly CompiledRoute[];
  /** The listener's own response header rules, for answers no route makes (404, 400). */
  readonly responseHeaders: HeaderRules | undefined;

  constructor(routes: readonly RouteConfig[], pools: ReadonlyMap<string, UpstreamPool>, defaults: HeaderPolicy, options: RouterOptions = {}) {
    const listenerRules = HeaderRules.compile(options.responseHeaders);
    this.responseHeaders = listenerRules;
    this.routes = routes.map((r) => {
      const headerConditions = r.match.header === undefined ? undefined : (Array.isArray(r.match.header) ? r.match.header : [r.match.header]).map(compileHeaderCondition);
      return {
        prefix: r.match.prefix,
        exact: r.match.exact,
        regex: r.match.regex === undefined ? undefined : new RegExp(r.match.regex, r.match.ignore_case ? 'i' : ''),
        methods: r.match.methods === undefined ? undefined : new Set(r.match.methods),
        headers: headerConditions,
        action: compileAction(r, pools, defaults, options.maps),
        rateLimit: r.rate_limit === undefined ? undefined : new RateLimiter(r.rate_limit, options.now),
        auth: r.auth === undefined ? undefined : new BasicAuth(r.auth, r.auth),
        responseHeaders: HeaderRules.compile(r.response_headers, listenerRules),
      };
    });
  }

  /** The first route matching the request, or undefined (404). */
  match(path: string, method: string, rawHeaders: readonly string[]): CompiledRoute | undefined {
    for (const r of this.routes) {
      if (r.prefix !== undefined ? !path.startsWith(r.prefix) : r.exact !== undefined ? path !== r.exact : r.regex !== undefined && !r.regex.test(path)) continue;
      if (r.methods !== undefined && !r.methods.has(method)) continue;
      if (r.headers !== undefined && !allHold(r.headers, rawHeaders)) continue;
      return r;
    }
    return undefined;
  }
}

function allHold(conditions: readonly HeaderCondition[], raw: readonly string[]): boolean {
  for (const c of conditions) if (!headerHolds(c, raw)) return false;
  return true;
}

/** The upstream a proxy action sends this request to; undefined when its map has no entry and no default (503). */
export function proxyTarget(action: ProxyAction, req: IncomingMessage, path: string, user: AuthenticatedUser | undefined): UpstreamPool | undefined {
  if (action.pool !== undefined) return action.pool;
  const m = action.map as NonNullable<ProxyAction['map']>;
  return m.map.lookup(mapKeyOf(m.key, path, req.rawHeaders, user));
}

function compileAction(r: RouteConfig, pools: ReadonlyMap<string, UpstreamPool>, defaults: HeaderPolicy, maps: ReadonlyMap<string, UpstreamMap> | undefined): RouteAction {
  if (r.proxy) {
    let pool: UpstreamPool | undefined;
    let map: ProxyAction['map'];
    if (r.proxy.upstream !== undefined) {
      pool = pools.get(r.proxy.upstream);
      if (!pool) throw new Error(`unknown upstream ${r.proxy.upstream}`);
    } else if (r.proxy.map !== undefined) {
      const found = maps?.get(r.proxy.map.name);
      const key = parseMapKey(r.proxy.map.key);
      if (!found || !key) throw new Error(`unknown map ${r.proxy.map.name} or key ${r.proxy.map.key}`);
      map = { map: found, key };
    }
    return {
      kind: 'proxy',
      pool,
      map,
      stripPrefix: r.proxy.strip_prefix,
      headers: {
        preserveHost: r.proxy.headers?.preserve_host ?? defaults.preserveHost,
        forwarded: r.proxy.headers?.forwarded ?? defaults.forwarded,
      },
    };
  }
  if (r.redirect) return { kind: 'redirect', status: r.redirect.status, location: RedirectTemplate.compile(r.redirect.location) };
  if (r.respond) {
    const headers: string[] = [];
    for (const [name, value] of Object.entries(r.respond.headers)) headers.push(name, value);
    if (!headers.some((h, i) => i % 2 === 0 && h.toLowerCase() === 'content-type')) headers.unshift('Content-Type', 'text/plain; charset=utf-8');
    return { kind: 'respond', status: r.respond.status, body: Buffer.from(r.respond.body, 'utf8'), headers };
  }
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
