import { isIPv4 } from 'node:net';
import { z } from 'zod';
import { parseHashKey } from './balancers/consistent-hash.ts';
import { parseHostPort } from './host-port.ts';
import { PasswordHash } from './password-hash.ts';
import { parseRateLimitKey } from './rate-limiter.ts';
import { RedirectTemplate } from './redirect-template.ts';
import { parseMapKey } from './upstream-map.ts';

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

/** Balancing algorithms (src/balancers/). */
export const BALANCE_KINDS = ['round_robin', 'least_conn', 'source_hash', 'consistent_hash'] as const;
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
    /** Requests in flight to this server at most; more wait in the upstream's queue (HAProxy `maxconn`); default the upstream's default_max_conn. */
    max_conn: z.number().int().min(1).max(1_000_000).optional(),
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

/** Failure kinds `retry_on` can name besides status codes; `invalid_header` is nginx's name for an invalid response head. */
export const RETRY_CONDITIONS = ['connect_failure', 'reset', 'timeout', 'invalid_header'] as const;
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
    /** `max_conn` of every server that sets none (HAProxy `default-server maxconn`). */
    default_max_conn: z.number().int().min(1).max(1_000_000).optional(),
    /** Requests waiting for a free server at most (HAProxy `maxqueue`); absent = no limit, 0 = no queue (503 at once). */
    max_queue: z.number().int().min(0).max(1_000_000).optional(),
    /** A queued request waiting longer gets 503 (HAProxy `timeout queue`); default timeouts.connect_ms. */
    queue_timeout_ms: durationMs(1).optional(),
    servers: z.array(serverSchema).min(1, 'expected at least one server'),
  })
  .strict()
  .superRefine((up, ctx) => {
    if (up.hash_key !== undefined && up.balance !== 'consistent_hash') {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['hash_key'], message: `only with balance: consistent_hash (balance is ${up.balance})` });
    }
    const limited = up.default_max_conn !== undefined || up.servers.some((s) => s.max_conn !== undefined);
    for (const field of ['max_queue', 'queue_timeout_ms'] as const) {
      if (up[field] !== undefined && !limited) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [field], message: 'only with default_max_conn or a server max_conn (without a limit nothing ever queues)' });
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
    /** Longest request line (method, target, version); longer gets 414 (Apache LimitRequestLine, nginx one 8k buffer). */
    request_line_bytes: z.number().int().min(64).default(8190),
    /** Largest request head, request line included; larger gets 431 (node's maxHeaderSize default). */
    header_bytes: z.number().int().min(1024).default(16_384),
    /** Most header fields in a request; more gets 431 (Apache LimitRequestFields). */
    header_count: z.number().int().min(1).default(100),
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

/** RFC 9110 §5.6.2 token: header field names, methods. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// A custom issue rather than .regex(): as a record key, the message must show the key, not the value.
const headerName = z.string().superRefine((name, ctx) => {
  if (!TOKEN.test(name)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected a header name (letters, digits and !#$%&'*+-.^_\`|~), got ${describeValue(name)}` });
});
/** A field value we may write: printable ASCII, spaces and tabs, no CR/LF. */
const headerValue = z.string().regex(/^[\t\x20-\x7e]*$/, 'expected printable ASCII (no line breaks)');

/** Header fields a rule may not touch: framing and hop-by-hop fields are the LB's business. */
const RESERVED_HEADERS: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer']);
const writableHeaderName = headerName.refine((n) => !RESERVED_HEADERS.has(n.toLowerCase()) && !n.toLowerCase().startsWith('proxy-'), (n) => ({
  message: `${describeValue(n)} is a framing or hop-by-hop field the LB manages itself`,
}));

function compileRegex(ctx: z.RefinementCtx, path: (string | number)[], source: string, ignoreCase: boolean): void {
  try {
    new RegExp(source, ignoreCase ? 'i' : '');
  } catch (err) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path, message: `invalid regular expression ${describeValue(source)}: ${(err as Error).message}` });
  }
}

const headerMatchSchema = z
  .object({
    /** Field name, case-insensitive. */
    name: headerName,
    /** Some field of that name is exactly this. */
    value: z.string().optional(),
    /** Some field of that name starts with this. */
    prefix: z.string().optional(),
    /** Some field of that name matches this JavaScript regular expression. */
    regex: z.string().optional(),
    /** true: a field of that name is there (any value); false: none is. */
    present: z.boolean().optional(),
    /** Compare value/prefix/regex case-insensitively. */
    ignore_case: z.boolean().default(false),
  })
  .strict()
  .superRefine((h, ctx) => {
    const given = (['value', 'prefix', 'regex', 'present'] as const).filter((k) => h[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected exactly one of value, prefix, regex, present, got ${given.length === 0 ? 'none' : given.join(', ')}` });
      return;
    }
    if (h.regex !== undefined) compileRegex(ctx, ['regex'], h.regex, h.ignore_case);
  });

const matchSchema = z
  .object({
    prefix: uriPath.optional(),
    exact: uriPath.optional(),
    /** JavaScript regular expression tested against the raw path (no query). */
    regex: z.string().optional(),
    ignore_case: z.boolean().default(false),
    /** One header condition or a list of them; all must hold. */
    header: z.union([headerMatchSchema, z.array(headerMatchSchema).min(1, 'expected at least one header condition')]).optional(),
    /** Request methods, exactly as sent (upper case): `[GET, HEAD]`. */
    methods: z.array(z.string().regex(/^[A-Z][A-Z_-]*$/, 'expected an upper-case method such as GET')).min(1, 'expected at least one method').optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    const given = (['prefix', 'exact', 'regex'] as const).filter((k) => m[k] !== undefined);
    if (given.length > 1) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected at most one of prefix, exact, regex, got ${given.join(', ')}` });
      return;
    }
    if (given.length === 0 && m.header === undefined && m.methods === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'expected at least one of prefix, exact, regex, header, methods (prefix: / matches every path)' });
      return;
    }
    if (m.regex !== undefined) compileRegex(ctx, ['regex'], m.regex, m.ignore_case);
  });

const mapKey = z.string().superRefine((text, ctx) => {
  if (!parseMapKey(text)) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected header:<name>, path_segment:<n>, cookie:<name>, auth_user or auth_group, got ${describeValue(text)}` });
  }
});

const proxyActionSchema = z
  .object({
    /** Name of an entry in `upstreams`. */
    upstream: z.string().min(1).optional(),
    /** Pick the upstream per request from a map (HAProxy `use_backend %[<key>,map(<file>,<default>)]`). */
    map: z
      .object({
        /** Name of an entry in `maps`. */
        name: z.string().min(1),
        /** What is looked up: header:<name>, path_segment:<n>, cookie:<name>, auth_user or auth_group. */
        key: mapKey,
      })
      .strict()
      .optional(),
    /** Removed from the start of the raw path before it is sent upstream. */
    strip_prefix: uriPath.optional(),
    /** Overrides the top-level `headers` for this route. */
    headers: headersOverrideSchema.optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if ((p.upstream === undefined) === (p.map === undefined)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected exactly one of upstream, map, got ${p.upstream === undefined ? 'none' : 'both'}` });
    }
  });

/** Statuses whose responses have no body (RFC 9110 §15.3.5, §15.4.5). */
const BODYLESS_STATUSES: ReadonlySet<number> = new Set([204, 304]);

const respondActionSchema = z
  .object({
    /** Status of the LB's own answer (nginx `return 200 "..."`, HAProxy `http-request return`). */
    status: z.number().int().min(200).max(599),
    /** Body, sent as is (UTF-8). */
    body: z.string().default(''),
    /** Response fields; Content-Type defaults to text/plain; charset=utf-8. */
    headers: z.record(writableHeaderName, headerValue).default({}),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (BODYLESS_STATUSES.has(r.status) && r.body !== '') ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['body'], message: `a ${r.status} response has no body` });
  });

/** Realm text for `WWW-Authenticate: Basic realm="..."`: a quoted-string without quotes or backslashes to escape. */
const realmText = z.string().min(1).regex(/^[\x20\x21\x23-\x5b\x5d-\x7e]+$/, 'expected printable ASCII without " or \\');

const authSchema = z
  .object({
    /** Shown by browsers in the login prompt. */
    realm: realmText,
    /** User name -> password hash: $apr1$, $1$, $5$, $6$, {SHA} or plain:<password>. */
    users: z
      .record(
        z.string().superRefine((name, ctx) => {
          if (!/^[^:\x00-\x1f\x7f]+$/.test(name)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected a user name without ":" or control characters, got ${describeValue(name)}` });
        }),
        z.string().superRefine((text, ctx) => {
          try {
            PasswordHash.parse(text);
          } catch (err) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
          }
        }),
      )
      .default({}),
    /** An htpasswd file (`user:hash` lines), relative to the config file; merged with `users`. */
    users_file: z.string().min(1).optional(),
    /** Group name -> its users; `auth_group` map keys use a user's first group. */
    groups: z
      .record(
        z.string().superRefine((name, ctx) => {
          if (!/^[A-Za-z0-9_.-]+$/.test(name)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected a group name of letters, digits, "_", "." or "-", got ${describeValue(name)}` });
        }),
        z.array(z.string().min(1)),
      )
      .default({}),
  })
  .strict();

const rateLimitKey = z.string().superRefine((text, ctx) => {
  if (!parseRateLimitKey(text)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected client_ip or header:<name>, got ${describeValue(text)}` });
});

const rateLimitSchema = z
  .object({
    /** Sustained requests per second per key (nginx `rate=10r/s`; 0.5 is 30r/m). */
    rate_per_sec: z
      .number()
      .positive()
      .max(1_000_000)
      .refine((r) => Math.round(r * 1000) >= 1, 'must be at least 0.001'),
    /** Requests beyond the rate a key may have outstanding (nginx `burst`). */
    burst: z.number().int().min(0).max(1_000_000).default(0),
    /** What identifies a client: its address (nginx `$binary_remote_addr`) or a header's value. */
    key: rateLimitKey.default('client_ip'),
    /** Status of a refused request (nginx `limit_req_status`). */
    status: statusCode(400, 599).default(503),
    /** Admitted requests go at once; without it, requests over the rate are held until they conform (nginx `nodelay`). */
    nodelay: z.boolean().default(false),
  })
  .strict();

const responseHeadersSchema = z
  .object({
    /** Replace every field of the name with this one (HAProxy `http-response set-header`). */
    set: z.record(writableHeaderName, headerValue).default({}),
    /** Append (one value or a list), keeping fields already there (nginx `add_header`). */
    add: z.record(writableHeaderName, z.union([headerValue, z.array(headerValue)])).default({}),
    /** Remove every field of these names. */
    remove: z.array(writableHeaderName).default([]),
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
    /** Answer from the LB itself (nginx `return 200 "healthy\n"`). */
    respond: respondActionSchema.optional(),
    /** HTTP Basic authentication before the action (nginx `auth_basic`, HAProxy `http-request auth`). */
    auth: authSchema.optional(),
    /** Requests per client (nginx `limit_req`), checked before auth. */
    rate_limit: rateLimitSchema.optional(),
    /** Response header rules, after the listener's. */
    response_headers: responseHeadersSchema.optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    const given = (['proxy', 'redirect', 'deny', 'respond'] as const).filter((k) => r[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `expected exactly one of proxy, redirect, deny, respond, got ${given.length === 0 ? 'none' : given.join(', ')}`,
      });
      return;
    }
    const key = r.proxy?.map?.key;
    if ((key === 'auth_user' || key === 'auth_group') && r.auth === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['proxy', 'map', 'key'], message: `${key} needs auth on the route` });
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

export const TLS_VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
/** Deprecated versions (RFC 8996), which OpenSSL 3 accepts only with security level 0 ciphers. */
export const LEGACY_TLS_VERSIONS: readonly string[] = ['TLSv1', 'TLSv1.1'];

const tlsSchema = z
  .object({
    /** PEM certificate chain file; relative paths are relative to the config file. */
    cert: z.string().min(1),
    /** PEM private key file; relative paths are relative to the config file. */
    key: z.string().min(1),
    /**
     * Oldest protocol version accepted (nginx `ssl_protocols`, HAProxy `ssl-min-ver`). TLS 1.0 and
     * 1.1 are deprecated (RFC 8996); choosing them also lowers the cipher security level to 0,
     * without which OpenSSL 3 refuses them anyway.
     */
    min_version: z.enum(TLS_VERSIONS).default('TLSv1.2'),
  })
  .strict();

const listenerSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected a name of letters, digits, "_", "." or "-"'),
    bind: hostPort,
    /** Host names this listener serves; informational, and the fallback {host} when a request has none. */
    server_names: z.array(z.string().min(1)).default([]),
    tls: tlsSchema.optional(),
    /** Response header rules for every response of this listener (routes add theirs after). */
    response_headers: responseHeadersSchema.optional(),
    /** Tried in order; the first match wins. A request no route matches gets 404. */
    routes: z.array(routeSchema).min(1, 'expected at least one route'),
  })
  .strict();

const mapSchema = z
  .object({
    /** HAProxy map file (`key value` lines), relative to the config file. */
    file: z.string().min(1).optional(),
    /** Key -> upstream name, inline. */
    entries: z.record(z.string().min(1), z.string()).optional(),
    /** Upstream for keys not in the map (and requests without a key); none: 503. */
    default: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if ((m.file === undefined) === (m.entries === undefined)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `expected exactly one of file, entries, got ${m.file === undefined ? 'none' : 'both'}` });
    }
  });

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
    /** Named maps from a request key to an upstream, changeable at runtime through the admin API. */
    maps: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected a name of letters, digits, "_", "." or "-"'), mapSchema).default({}),
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
    const known = Object.keys(cfg.upstreams);
    const unknownUpstream = (name: string): string => `unknown upstream ${describeValue(name)} (defined: ${known.length ? known.join(', ') : 'none'})`;
    for (const [name, m] of Object.entries(cfg.maps)) {
      if (m.default !== undefined && !Object.hasOwn(cfg.upstreams, m.default)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['maps', name, 'default'], message: unknownUpstream(m.default) });
      }
      for (const [key, value] of Object.entries(m.entries ?? {})) {
        if (!Object.hasOwn(cfg.upstreams, value)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['maps', name, 'entries', key], message: unknownUpstream(value) });
      }
    }
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
        if (r.proxy?.upstream !== undefined && !Object.hasOwn(cfg.upstreams, r.proxy.upstream)) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['listeners', i, 'routes', j, 'proxy', 'upstream'], message: unknownUpstream(r.proxy.upstream) });
        }
        const map = r.proxy?.map?.name;
        if (map !== undefined && !Object.hasOwn(cfg.maps, map)) {
          const maps = Object.keys(cfg.maps);
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: ['listeners', i, 'routes', j, 'proxy', 'map', 'name'],
            message: `unknown map ${describeValue(map)} (defined: ${maps.length ? maps.join(', ') : 'none'})`,
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
export type LimitsConfig = LbConfig['limits'];
export type ServerConfig = UpstreamConfig['servers'][number];
export type HealthCheckConfig = NonNullable<UpstreamConfig['health_check']>;
export type PassiveConfig = NonNullable<UpstreamConfig['passive']>;
export type AdminConfig = NonNullable<LbConfig['admin']>;
export type StickyConfig = NonNullable<UpstreamConfig['sticky']>;
export type MapConfig = LbConfig['maps'][string];
export type AuthConfig = NonNullable<RouteConfig['auth']>;
export type RateLimitConfig = NonNullable<RouteConfig['rate_limit']>;
export type ResponseHeadersConfig = NonNullable<RouteConfig['response_headers']>;
export type HeaderMatchConfig = z.output<typeof headerMatchSchema>;
/** Effective forwarding-header policy after route overrides. */
export interface HeaderPolicy {
  preserveHost: boolean;
  forwarded: boolean;
}
