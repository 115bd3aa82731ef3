import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { durationSchema } from '../contracts/duration-schema.ts';
import { parseDurationMs } from '../duration.ts';
import { LbdrillError } from '../errors.ts';
import { describeZodError } from '../zod-message.ts';

/**
 * Highest probe rate a deployment may ask for: a game day runs against a pool that serves
 * real users, and lbdrill's load on it must stay a probe, not a load test.
 */
export const MAX_PROBE_RATE_PER_SEC = 50;
/** Probe rate when the file gives none. */
const DEFAULT_PROBE_RATE_PER_SEC = 20;
/** How often a view asks the LB for its servers' states when the file gives no `poll`. */
const DEFAULT_POLL_MS = 250;
const MIN_POLL_MS = 50;

/** The fault hooks a deployed backend may have: shell commands lbdrill runs with zx. */
export const HOOK_NAMES = ['stop', 'start', 'kill', 'pause', 'unpause'] as const;
export type HookName = (typeof HOOK_NAMES)[number];

const name = z.string().regex(/^[A-Za-z0-9][\w.:@-]{0,99}$/, 'expected a name of letters, digits and . _ - : @');
const command = z.string().trim().min(1, 'must not be empty');
const httpUrl = z
  .string()
  .url('expected a URL like http://127.0.0.1:8080')
  .refine((u) => /^https?:$/.test(new URL(u).protocol), 'expected an http:// or https:// URL');

const oneGroupRegex = z.string().superRefine((text, ctx) => {
  let re: RegExp;
  try {
    re = new RegExp(text);
  } catch (err) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `not a regular expression: ${(err as Error).message}` });
    return;
  }
  // A regex's group count is the number of alternatives the empty string matches with, minus one.
  const groups = new RegExp(`${re.source}|`).exec('')!.length - 1;
  if (groups !== 1) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `needs exactly one capture group (the backend's name), has ${groups}` });
});

const identifySchema = z.union(
  [
    z.object({ header: z.string().regex(/^[!#$%&'*+.^`|~\w-]+$/, 'expected a header name like X-Served-By') }).strict(),
    z.object({ cookie: z.string().regex(/^[!#$%&'*+.^`|~\w-]+$/, 'expected a cookie name like SERVERID') }).strict(),
    z.object({ body: oneGroupRegex }).strict(),
  ],
  { errorMap: () => ({ message: 'expected exactly one of header: NAME, cookie: NAME or body: "REGEX with one group"' }) },
);

const hooksSchema = z
  .object({ stop: command, start: command, kill: command.optional(), pause: command.optional(), unpause: command.optional() })
  .strict()
  .refine((h) => (h.pause === undefined) === (h.unpause === undefined), { message: 'pause and unpause come together (every hook that ran is undone)', path: ['unpause'] });

const backendSchema = z
  .object({
    name,
    pool: name,
    /** the server's name in the LB's own view (HAProxy `server NAME`); default `name`. */
    server: name.optional(),
    /** what the identify rule yields for this backend; default `name`. */
    value: z.string().min(1).optional(),
    hooks: hooksSchema,
  })
  .strict();

const viewSchema = z.union(
  [
    z.literal('none'),
    z.object({ none: z.literal(true), poll: durationSchema.optional() }).strict(),
    z.object({ haproxy: z.union([z.object({ socket: z.string().min(1) }).strict(), z.object({ stats_csv: httpUrl }).strict()], { errorMap: () => ({ message: 'expected { socket: PATH } or { stats_csv: URL }' }) }), poll: durationSchema.optional() }).strict(),
    z.object({ apache: z.object({ balancer_manager: httpUrl }).strict(), poll: durationSchema.optional() }).strict(),
    z.object({ reference: z.object({ admin: httpUrl, token_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name') }).strict(), poll: durationSchema.optional() }).strict(),
    z.object({ prometheus: z.object({ url: httpUrl }).strict(), poll: durationSchema.optional() }).strict(),
  ],
  { errorMap: () => ({ message: 'expected none, or one of haproxy, apache, reference, prometheus (see the README, "Game day on a deployed pool")' }) },
);

const fileSchema = z
  .object({
    name: name.default('deployment'),
    lb: z
      .object({
        url: httpUrl,
        ca: z.string().min(1).optional(),
        insecure: z.boolean().optional(),
        probe: z
          .object({
            path: z.string().startsWith('/', 'must start with /'),
            rate: z.number().int().min(1).max(MAX_PROBE_RATE_PER_SEC, `at most ${MAX_PROBE_RATE_PER_SEC} requests/s: a game day probes a live pool, it does not load it`).default(DEFAULT_PROBE_RATE_PER_SEC),
          })
          .strict(),
      })
      .strict()
      .superRefine((lb, ctx) => {
        const https = lb.url.startsWith('https:');
        if (lb.ca !== undefined && lb.insecure) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['insecure'], message: 'give ca or insecure: true, not both' });
        if (https && lb.ca === undefined && !lb.insecure) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['ca'], message: 'an https:// LB needs a CA file (ca: FILE) or insecure: true' });
        if (!https && (lb.ca !== undefined || lb.insecure)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [lb.ca !== undefined ? 'ca' : 'insecure'], message: 'only for an https:// url' });
      }),
    identify: identifySchema,
    backends: z.array(backendSchema).min(2, 'a failover drill needs at least 2 backends'),
    view: viewSchema,
  })
  .strict()
  .superRefine((d, ctx) => {
    const seen = new Map<string, number>();
    for (const [i, b] of d.backends.entries()) {
      for (const [field, value] of [['name', b.name], ['value', b.value ?? b.name]] as const) {
        const key = `${field}:${value}`;
        if (seen.has(key)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['backends', i, field], message: `"${value}" is also backends[${seen.get(key)}]'s` });
        else seen.set(key, i);
      }
    }
  });

/** The LB's own view of its servers, as the deployment file names it. */
export type ViewSpec =
  | { kind: 'none' }
  | { kind: 'haproxy-socket'; socket: string }
  | { kind: 'haproxy-stats-csv'; url: string }
  | { kind: 'apache-balancer-manager'; url: string }
  | { kind: 'reference-admin'; url: string; tokenEnv: string }
  | { kind: 'prometheus'; url: string };

/** How a response names the backend that served it. */
export type IdentifyRule = { header: string } | { cookie: string } | { body: string };

/** One backend of a deployed pool, with its hooks. */
export interface DeployedBackendSpec {
  name: string;
  pool: string;
  /** its name in the LB's view. */
  server: string;
  /** what the identify rule yields for it. */
  value: string;
  hooks: { stop: string; start: string; kill?: string; pause?: string; unpause?: string };
}

/** A pool lbdrill did not start: where to send traffic, how to tell backends apart, their hooks, the LB's view. */
export interface Deployment {
  /** the file it was read from (absolute). */
  file: string;
  name: string;
  lb: { url: string; caPem?: string; caFile?: string; insecure: boolean; probePath: string; probeRatePerSec: number };
  identify: IdentifyRule;
  backends: DeployedBackendSpec[];
  view: ViewSpec;
  /** how often the view asks the LB for its servers' states; bounds the timing of its DOWN/UP reports. */
  pollMs: number;
}

function invalid(file: string, message: string, cause?: unknown): never {
  throw new LbdrillError('LBDRILL_ERR_DEPLOYMENT_INVALID', `${file}: ${message}`, cause === undefined ? undefined : { cause });
}

/** Validates a parsed deployment file; throws LBDRILL_ERR_DEPLOYMENT_INVALID with one line naming the field. */
export function parseDeployment(raw: unknown, file: string): Deployment {
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) invalid(file, describeZodError(parsed.error));
  const d = parsed.data;
  const v = d.view;
  const view: ViewSpec =
    v === 'none' || 'none' in v
      ? { kind: 'none' }
      : 'haproxy' in v
        ? 'socket' in v.haproxy
          ? { kind: 'haproxy-socket', socket: resolve(dirname(file), v.haproxy.socket) }
          : { kind: 'haproxy-stats-csv', url: v.haproxy.stats_csv }
        : 'apache' in v
          ? { kind: 'apache-balancer-manager', url: v.apache.balancer_manager }
          : 'reference' in v
            ? { kind: 'reference-admin', url: v.reference.admin, tokenEnv: v.reference.token_env }
            : { kind: 'prometheus', url: v.prometheus.url };
  const pollText = v === 'none' ? undefined : v.poll;
  const pollMs = pollText === undefined ? DEFAULT_POLL_MS : parseDurationMs(pollText)!;
  if (pollMs < MIN_POLL_MS) invalid(file, `view.poll: at least ${MIN_POLL_MS}ms (the LB answers every poll), got ${pollText}`);
  let caPem: string | undefined;
  const caFile = d.lb.ca === undefined ? undefined : resolve(dirname(file), d.lb.ca);
  if (caFile !== undefined) {
    try {
      caPem = readFileSync(caFile, 'utf8');
    } catch (err) {
      invalid(file, `lb.ca: cannot read ${caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, err);
    }
  }
  return {
    file,
    name: d.name,
    lb: { url: d.lb.url, ...(caPem !== undefined ? { caPem, caFile: caFile! } : {}), insecure: d.lb.insecure === true, probePath: d.lb.probe.path, probeRatePerSec: d.lb.probe.rate },
    identify: d.identify,
    backends: d.backends.map((b) => ({ name: b.name, pool: b.pool, server: b.server ?? b.name, value: b.value ?? b.name, hooks: b.hooks })),
    view,
    pollMs,
  };
}

/** Reads and validates a deployment file (YAML or JSON). */
export function loadDeployment(path: string): Deployment {
  const file = resolve(path);
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new LbdrillError('LBDRILL_ERR_CONFIG_READ', `cannot read deployment file ${path}: no such file`, { cause: err });
    invalid(file, e.message.split('\n')[0]!, err);
  }
  return parseDeployment(raw, file);
}
