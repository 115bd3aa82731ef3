import { z } from 'zod';
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

/** Balancing algorithms; later: least_conn, consistent_hash, source_hash. */
export const BALANCE_KINDS = ['round_robin'] as const;
export type BalanceKind = (typeof BALANCE_KINDS)[number];

const serverSchema = z
  .object({
    /** `host:port` of the upstream server. */
    address: hostPort,
    /** Label used in logs and events; default the address. */
    name: z.string().min(1).optional(),
    /** Start the server marked down: it receives no traffic (nginx `server ... down`). */
    down: z.boolean().default(false),
  })
  .strict();

const upstreamSchema = z
  .object({
    balance: z.enum(BALANCE_KINDS).default('round_robin'),
    /** Idle keep-alive connections kept per server (a burst's surplus closes after 1 s unused); 0 = a new connection per request. */
    keepalive: z.number().int().min(0).max(100_000).default(0),
    /** How long an idle pooled connection is kept before it is closed. */
    keepalive_timeout_ms: durationMs(1).default(60_000),
    /** Extra attempts on other servers after a failure that is safe to retry; default: every server once. */
    retries: z.number().int().min(0).max(100).optional(),
    servers: z.array(serverSchema).min(1, 'expected at least one server'),
  })
  .strict()
  .superRefine((up, ctx) => {
    const seen = new Set<string>();
    up.servers.forEach((s, i) => {
      if (seen.has(s.address)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['servers', i, 'address'], message: `duplicate server ${describeValue(s.address)}` });
      }
      seen.add(s.address);
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
/** Effective forwarding-header policy after route overrides. */
export interface HeaderPolicy {
  preserveHost: boolean;
  forwarded: boolean;
}
