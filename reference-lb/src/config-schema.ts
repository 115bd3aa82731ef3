import { isIPv4 } from 'node:net';
import { z } from 'zod';
import { parseHashKey } from './balancers/consistent-hash.ts';
import { parseHostPort } from './host-port.ts';
import { RedirectTemplate } from './redirect-template.ts';

/*
 * The reference LB's config file (YAML or JSON). Every object is strict: an unknown
 * field is an error, so a typo never silently falls back to a default. Durations end
 * in `_ms`, sizes in `_bytes`. Defaults follow nginx where nginx has an equivalent.
 * README.md documents every field; keep the two in step.
 */

/** Renders a value for an error message: `"80"`, `42`, `nothing`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

const durationMs = (min: number) => z.number().int().min(min).max(2_147_483_647);

const hostPort = z.string().superRefine((text, ctx) => {
  if (!parseHostPort(text)) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected host:port, got ${describeValue(text)}` });
  }
});

const uriPath = z.string().superRefine((text, ctx) => {
  if (!text.startsWith('/')) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected a path starting with "/", got ${describeValue(text)}` });
  }
});

/** Balancing algorithms (src/balancers/); later: least_conn. */
export const BALANCE_KINDS = ['round_robin', 'source_hash', 'consistent_hash'] as const;
export type BalanceKind = (typeof BALANCE_KINDS)[number];

/** RFC 6265 §4.1.1 cookie-name (an RFC 9110 token). */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 6265 §4.1.1 cookie-octet: printable ASCII except space, DQUOTE, comma, semicolon and backslash. */
const COOKIE_VALUE = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]+$/;

const hashKey = z.string().superRefine((text, ctx) => {
  if (!parseHashKey(text)) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected uri, path, header:<name> or cookie:<name>, got ${describeValue(text)}` });
  }
});

/** Modes of the sticky cookie; HAProxy also has rewrite and prefix (not built). */
export const STICKY_MODES = ['insert'] as const;

const stickySchema = z
  .object({
    /** Cookie name (HAProxy `cookie <name>`). */
    cookie: z.string().regex(COOKIE_NAME, 'expected a cookie name (letters, digits and !#$%&\'*+-.^_`|~)'),
    /** `insert`: the LB sets the cookie itself in responses. */
    mode: z.enum(STICKY_MODES).default('insert'),
    /** Remove the cookie from requests before they reach the upstream (HAProxy `indirect`). */
    indirect: z.boolean().default(false),
    /** Mark a cacheable response that gets the cookie `Cache-Control: private` (HAProxy `nocache`). */
    nocache: z.boolean().default(false),
  })
  .strict();

const serverSchema = z
  .object({
    /** `host:port` of the upstream server. */
    address: hostPort,
    /** Label used in logs, events and the admin API; default the address. */
    name: z.string().min(1).optional(),
    /** Start the server in maintenance: it receives no traffic until the admin API sets it ready (nginx `server ... down`). */
    down: z.boolean().default(false),
    /** Relative share of traffic (smooth weighted round robin, like nginx `weight`). */
    weight: z.number().int().min(1).max(256).default(1),
    /** Receives traffic only while no non-backup server is available (nginx/HAProxy `backup`). */
    backup: z.boolean().default(false),
    /** Value of the upstream's sticky cookie that pins a client to this server (HAProxy `server ... cookie <value>`); default the name. */
    cookie_value: z.string().regex(COOKIE_VALUE, 'expected a cookie value (printable ASCII without space, quote, comma, semicolon or backslash)').optional(),
  })
  .strict();

/** `2xx` or an exact status: what a health check response must be to count as a pass. */
const expectStatus = z.union([z.number().int().min(100).max(599), z.enum(['1xx', '2xx', '3xx', '4xx', '5xx'])], {
  errorMap: () => ({ message: 'expected a status 100-599 or one of "1xx", "2xx", "3xx", "4xx", "5xx"' }),
});

const healthCheckSchema = z
  .object({
    /** Requested with GET straight from the LB to each server, Host = the server's address. */
    path: uriPath,
    /** Time between the starts of two checks of one server (HAProxy `inter`). */
    interval_ms: durationMs(10).default(2000),
    /** A check with no response head after this long fails; default interval_ms (HAProxy `timeout check`). */
    timeout_ms: durationMs(1).optional(),
    /** Consecutive failed checks that mark an up server down. */
    fall: z.number().int().min(1).max(1000).default(3),
    /** Consecutive passed checks that bring a down server back up. */
    rise: z.number().int().min(1).max(1000).default(2),
    /** Statuses that pass; default 2xx and 3xx (HAProxy `option httpchk`). */
    expect_status: z.array(expectStatus).min(1, 'expected at least one status').default(['2xx', '3xx']),
  })
  .strict();

/** A status code as a YAML number or string: 503 or "503". */
const statusCode = (min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' && /^[0-9]{3}$/.test(v) ? Number(v) : v),
    z.number({ errorMap: () => ({ message: `expected a status code ${min}-${max}` }) }).int().min(min).max(max),
  );

const passiveSchema = z
  .object({
    /** Failed attempts within fail_timeout_ms that make the server unavailable (nginx `max_fails`). */
    max_fails: z.number().int().min(1).max(100_000).default(1),
    /** The window for max_fails, and how long the server then stays out (nginx `fail_timeout`). */
    fail_timeout_ms: durationMs(1).default(10_000),
    /** Responses with these statuses count as failures too (nginx `proxy_next_upstream http_503`). */
    fail_on_status: z.array(statusCode(400, 599)).default([]),
  })
  .strict();

/** Failure kinds `retry_on` can name besides status codes. */
export const RETRY_CONDITIONS = ['connect_failure', 'reset', 'timeout'] as const;
export type RetryCondition = (typeof RETRY_CONDITIONS)[number];

const retryOnEntry = z.union([z.enum(RETRY_CONDITIONS), statusCode(400, 599)], {
  errorMap: () => ({ message: `expected one of ${RETRY_CONDITIONS.join(', ')} or a status code 400-599` }),
});

/** What happens to live sessions of a server that is marked down or put in maintenance. */
export const ON_MARKED_DOWN = ['none', 'shutdown_sessions'] as const;
export type OnMarkedDown = (typeof ON_MARKED_DOWN)[number];

const upstreamSchema = z
  .object({
    balance: z.enum(BALANCE_KINDS).default('round_robin'),
    /** What consistent_hash hashes: uri (path and query), path, header:<name> or cookie:<name>; default uri. */
    hash_key: hashKey.optional(),
    /** A cookie that pins a client to the server that first answered it (HAProxy `cookie ... insert`). */
    sticky: stickySchema.optional(),
    /** Idle timeout of an established WebSocket / Upgrade tunnel (HAProxy `timeout tunnel`); 0 = none. */
    tunnel_timeout_ms: durationMs(0).default(3_600_000),
    /** Idle keep-alive connections kept per server (a burst's surplus closes after 1 s unused); 0 = a new connection per request. */
    keepalive: z.number().int().min(0).max(100_000).default(0),
    /** How long an idle pooled connection is kept before it is closed. */
    keepalive_timeout_ms: durationMs(1).default(60_000),
    /** Extra attempts after a failure that is safe to retry; default: every server once. */
    retries: z.number().int().min(0).max(100).optional(),
    /** A retry goes to another server (HAProxy `option redispatch`); false retries the same one. */
    redispatch: z.boolean().default(true),
    /** Failures that may be retried; default connect failures only. */
    retry_on: z.array(retryOnEntry).default(['connect_failure']),
    /** Active health checks; without them servers are only taken out passively or by the admin API. */
    health_check: healthCheckSchema.optional(),
    /** Passive ejection from failures of real traffic (nginx `max_fails`/`fail_timeout`). */
    passive: passiveSchema.optional(),
    /** A server coming back up ramps from ~0 to its weight over this long (HAProxy `slowstart`); 0 = at once. */
    slowstart_ms: durationMs(0).default(0),
    /** `shutdown_sessions` cuts every live request of a server the moment it is marked down or put in maintenance. */
    on_marked_down: z.enum(ON_MARKED_DOWN).default('none'),
    servers: z.array(serverSchema).min(1, 'expected at least one server'),
  })
  .strict()
  .superRefine((up, ctx) => {
    if (up.hash_key !== undefined && up.balance !== 'consistent_hash') {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['hash_key'], message: `only with balance: consistent_hash (balance is ${up.balance})` });
    }
    const seen = new Set<string>();
    const names = new Set<string>();
    const cookieValues = new Set<string>();
    up.servers.forEach((s, i) => {
      if (up.sticky === undefined) {
        if (s.cookie_value !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['servers', i, 'cookie_value'], message: 'only with sticky' });
      } else {
        const value = s.cookie_value ?? s.name ?? s.address;
        const field = s.cookie_value !== undefined ? 'cookie_value' : s.name !== undefined ? 'name' : 'address';
        if (s.cookie_value === undefined && !COOKIE_VALUE.test(value)) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['servers', i, field], message: `${describeValue(value)} cannot be a cookie value; set cookie_value` });
        } else if (cookieValues.has(value)) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['servers', i, field], message: `duplicate sticky cookie value ${describeValue(value)}` });
        }
        cookieValues.add(value);
      }
      if (seen.has(s.address)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['servers', i, 'address'], message: `duplicate server ${describeValue(s.address)}` });
      }
      seen.add(s.address);
      if (s.name !== undefined) {
        if (names.has(s.name)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['servers', i, 'name'], message: `duplicate server name ${describeValue(s.name)}` });
        names.add(s.name);
      }
    });
  });

const timeoutsSchema = z
  .object({
    /** Max time to establish an upstream TCP connection. */
    connect_ms: durationMs(1).default(60_000),
    /** Max upstream silence: for the response head once the request is sent, then between body chunks (0 = none). */
    read_ms: durationMs(0).default(60_000),
    /** Max silence from the client while its request body is being received (0 = none). */
    send_ms: durationMs(0).default(60_000),
    /** Idle keep-alive client connections close after this; a client that reads none of a response for this long is cut. */
    client_idle_ms: durationMs(1).default(75_000),
    /** Max time for a client to send a complete request head. */
    client_header_ms: durationMs(1).default(60_000),
  })
  .strict();

const limitsSchema = z
  .object({
    /** Largest request body accepted; 0 = unlimited. Larger bodies get 413 and never reach an upstream. */
    max_body_bytes: z.number().int().min(0).default(1_048_576),
  })
  .strict();

const bufferingSchema = z
  .object({
    /** Read the whole request body before contacting an upstream. */
    request: z.boolean().default(false),
    /** Read the whole upstream response before sending it to the client. */
    response: z.boolean().default(false),
    /** A buffered body larger than this goes to a temp file. */
    memory_bytes: z.number().int().min(0).default(1_048_576),
    /** Where buffered bodies spill to; default: the OS temp dir. */
    temp_dir: z.string().min(1).optional(),
  })
  .strict();

const headersSchema = z
  .object({
    /** Send the client's Host header upstream; false sends the upstream server's host:port. */
    preserve_host: z.boolean().default(false),
    /** Set X-Forwarded-For (appended), X-Forwarded-Proto, X-Forwarded-Host and X-Real-IP. */
    forwarded: z.boolean().default(false),
  })
  .strict();

const headersOverrideSchema = z
  .object({
    preserve_host: z.boolean().optional(),
    forwarded: z.boolean().optional(),
  })
  .strict();

const matchSchema = z
  .object({
    prefix: uriPath.optional(),
    exact: uriPath.optional(),
    /** JavaScript regular expression tested against the raw path (no query). */
    regex: z.string().optional(),
    ignore_case: z.boolean().default(false),
  })
  .strict()
  .superRefine((m, ctx) => {
    const given = (['prefix', 'exact', 'regex'] as const).filter((k) => m[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `expected exactly one of prefix, exact, regex, got ${given.length === 0 ? 'none' : given.join(', ')}`,
      });
      return;
    }
    if (m.regex !== undefined) {
      try {
        new RegExp(m.regex, m.ignore_case ? 'i' : '');
      } catch (err) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['regex'], message: `invalid regular expression ${describeValue(m.regex)}: ${(err as Error).message}` });
      }
    }
  });

const proxyActionSchema = z
  .object({
    /** Name of an entry in `upstreams`. */
    upstream: z.string().min(1),
    /** Removed from the start of the raw path before it is sent upstream. */
    strip_prefix: uriPath.optional(),
    /** Overrides the top-level `headers` for this route. */
    headers: headersOverrideSchema.optional(),
  })
  .strict();

const REDIRECT_STATUSES = [301, 302, 303, 307, 308] as const;

const redirectActionSchema = z
  .object({
    status: z
      .number()
      .int()
      .refine((n) => (REDIRECT_STATUSES as readonly number[]).includes(n), (n) => ({ message: `expected one of ${REDIRECT_STATUSES.join(', ')}, got ${describeValue(n)}` })),
    /** Location template, e.g. "https://{host}{request_uri}". */
    location: z
      .string()
      .min(1)
      .superRefine((text, ctx) => {
        try {
          RedirectTemplate.compile(text);
        } catch (err) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
        }
      }),
  })
  .strict();

const routeSchema = z
  .object({
    match: matchSchema,
    proxy: proxyActionSchema.optional(),
    redirect: redirectActionSchema.optional(),
    /** Close the connection without writing a byte (nginx `return 444`). */
    deny: z.literal(true, { errorMap: () => ({ message: 'expected true (omit the field instead of false)' }) }).optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    const given = (['proxy', 'redirect', 'deny'] as const).filter((k) => r[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `expected exactly one of proxy, redirect, deny, got ${given.length === 0 ? 'none' : given.join(', ')}`,
      });
      return;
    }
    const strip = r.proxy?.strip_prefix;
    const literal = r.match.prefix ?? r.match.exact;
    if (strip !== undefined && literal !== undefined && !literal.startsWith(strip)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['proxy', 'strip_prefix'],
        message: `${describeValue(strip)} is not a prefix of the route's match ${describeValue(literal)}`,
      });
    }
  });

const tlsSchema = z
  .object({
    /** PEM certificate chain file; relative paths are relative to the config file. */
    cert: z.string().min(1),
    /** PEM private key file; relative paths are relative to the config file. */
    key: z.string().min(1),
  })
  .strict();

const listenerSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected a name of letters, digits, "_", "." or "-"'),
    bind: hostPort,
    /** Host names this listener serves; informational, and the fallback {host} when a request has none. */
    server_names: z.array(z.string().min(1)).default([]),
    tls: tlsSchema.optional(),
    /** Tried in order; the first match wins. A request no route matches gets 404. */
    routes: z.array(routeSchema).min(1, 'expected at least one route'),
  })
  .strict();

/** True for 127.0.0.0/8, ::1 and localhost: the admin API must not be reachable from the network. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIPv4(host) && host.startsWith('127.');
}

const adminSchema = z
  .object({
    /** Loopback `host:port` of the admin API. */
    bind: hostPort.superRefine((text, ctx) => {
      const hp = parseHostPort(text);
      if (hp && !isLoopbackHost(hp.host)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected a loopback address (127.0.0.0/8, ::1 or localhost), got ${describeValue(text)}` });
      }
    }),
    /** Every request must carry `Authorization: Bearer <token>`. */
    token: z.string().min(8, 'must be at least 8 characters').regex(/^[\x21-\x7e]+$/, 'expected printable ASCII without spaces'),
  })
  .strict();

/** The whole config file. */
export const configSchema = z
  .object({
    /** Processes serving the listeners (node:cluster), or "auto" for one per CPU; only the CLI honours it. */
    workers: z
      .union([z.number().int().min(1).max(256), z.literal('auto')], { errorMap: () => ({ message: 'expected an integer from 1 to 256 or "auto"' }) })
      .default(1),
    upstreams: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected a name of letters, digits, "_", "." or "-"'), upstreamSchema).default({}),
    timeouts: timeoutsSchema.default({}),
    limits: limitsSchema.default({}),
    buffering: bufferingSchema.default({}),
    headers: headersSchema.default({}),
    listeners: z.array(listenerSchema).min(1, 'expected at least one listener'),
    /** The admin API (server state, weights, state-change events); off when absent. */
    admin: adminSchema.optional(),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const names = new Set<string>();
    const binds = new Set<string>();
    cfg.listeners.forEach((l, i) => {
      if (names.has(l.name)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['listeners', i, 'name'], message: `duplicate listener name ${describeValue(l.name)}` });
      names.add(l.name);
      if (!l.bind.endsWith(':0') && binds.has(l.bind)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['listeners', i, 'bind'], message: `duplicate bind ${describeValue(l.bind)}` });
      }
      binds.add(l.bind);
      l.routes.forEach((r, j) => {
        if (r.proxy && !Object.hasOwn(cfg.upstreams, r.proxy.upstream)) {
          const known = Object.keys(cfg.upstreams);
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: ['listeners', i, 'routes', j, 'proxy', 'upstream'],
            message: `unknown upstream ${describeValue(r.proxy.upstream)} (defined: ${known.length ? known.join(', ') : 'none'})`,
          });
        }
      });
    });
  });

/** A validated config with every default filled in. */
export type LbConfig = z.output<typeof configSchema>;
/** The config as written in the file, before defaults. */
export type LbConfigInput = z.input<typeof configSchema>;
export type UpstreamConfig = LbConfig['upstreams'][string];
export type ListenerConfig = LbConfig['listeners'][number];
export type RouteConfig = ListenerConfig['routes'][number];
export type TimeoutsConfig = LbConfig['timeouts'];
export type BufferingConfig = LbConfig['buffering'];
export type ServerConfig = UpstreamConfig['servers'][number];
export type HealthCheckConfig = NonNullable<UpstreamConfig['health_check']>;
export type PassiveConfig = NonNullable<UpstreamConfig['passive']>;
export type AdminConfig = NonNullable<LbConfig['admin']>;
export type StickyConfig = NonNullable<UpstreamConfig['sticky']>;
/** Effective forwarding-header policy after route overrides. */
export interface HeaderPolicy {
  preserveHost: boolean;
  forwarded: boolean;
}
