import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CHECKS } from '../checks/registry.ts';
import { LbdrillError } from '../errors.ts';
import { describeZodError } from '../zod-message.ts';
import { REPO_ROOT } from '../paths.ts';
import { parseDurationMs } from '../duration.ts';
import { TARGET_NAMES } from '../targets/target-kind.ts';

const PROFILE_DIR = join(REPO_ROOT, 'scenarios', 'profiles');

const duration = z.string().refine((t) => parseDurationMs(t) !== undefined, (t) => ({ message: `expected a duration like 500ms, 20s or 2m, got "${t}"` }));

/** Budget names the failover checks read; a profile may set any of them. */
export const BUDGET_NAMES = ['detect', 'rejoin', 'shutdown', 'drain', 'passive', 'ramp', 'reconnect'] as const;
export type BudgetName = (typeof BUDGET_NAMES)[number];

const poolSchema = z
  .object({
    /** the pool's name in the bundled configs (HAProxy backend, nginx upstream, Apache balancer, reference upstream). */
    name: z.string().min(1),
    /** a path the LB routes to this pool. */
    probe_path: z.string().startsWith('/'),
    /** the path the contract's health checks use; the test backends answer it. */
    health_path: z.string().startsWith('/'),
    /** other names the bundled configs use for this pool (nginx `default_pool` where HAProxy says `default`). */
    aliases: z.array(z.string().min(1)).default([]),
    /** the contract's server weights, by upstream address as written ("10.0.1.10:8000": 3). */
    weights: z.record(z.number().int().min(1).max(256)).optional(),
  })
  .strict();

const failoverSchema = z
  .object({
    /** default --time-scale for this profile. */
    time_scale: z.number().positive().max(10).default(1),
    /** probe stream rate, requests per second. */
    probe_rate: z.number().int().min(1).max(2000).default(200),
    /** distinct client addresses the probe stream rotates over (a contract with a per-address rate limit needs many). */
    probe_sources: z.number().int().min(1).max(1000).default(1),
    /** budgets at time scale 1; scaled with the intervals. */
    budgets: z.record(z.enum(BUDGET_NAMES), duration).default({}),
  })
  .strict();

const profileSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9-]+$/),
    title: z.string(),
    source: z.string().optional(),
    configs: z.string(),
    checks: z
      .array(
        z
          .object({
            id: z.string().refine((id) => CHECKS.has(id), (id) => ({ message: `unknown check "${id}"` })),
            severity: z.enum(['must', 'should']),
          })
          .strict(),
      )
      .min(1),
    /** pools the checks act on, first = the one failover drills stop a server of. */
    pools: z.array(poolSchema).default([]),
    /** scenario files (relative to the repository root) a run of this profile includes after its checks. */
    scenarios: z.array(z.string().min(1)).default([]),
    failover: failoverSchema.default({}),
    /** sticky-cookie contract: the cookie's name, and the WebSocket path on the cookie-sticky (first) pool. */
    sticky: z.object({ cookie: z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/), ws_path: z.string().startsWith('/') }).strict().optional(),
    /** header-map contract (seed 002): which header is looked up, the map as deployed, the default, and each target's address. */
    node_map: z
      .object({
        header: z.string().min(1),
        /**
         * the map as each target's config names it, for runtime updates: the file it reads (HAProxy
         * `map(<path>)`, an `include` in nginx's `map` block, Apache `RewriteMap txt:<path>`), or the
         * reference LB's map name.
         */
        maps: z.record(z.enum(TARGET_NAMES), z.string().min(1)),
        entries: z.record(z.string()),
        default: z.string(),
        /** map value -> the server address it stands for, as written in the configs. */
        targets: z.record(z.string()),
      })
      .strict()
      .optional(),
    /** server queue contract (seed 002: `maxconn M maxqueue Q` per server): M+Q concurrent slow requests per server are served, more get a quick 503. */
    queue: z
      .object({
        max_conn: z.number().int().min(1).max(500),
        max_queue: z.number().int().min(0).max(500),
        /** how long each request holds its server (the backend answers after this delay). */
        hold: duration.default('1500ms'),
        /** a request beyond the queue must be refused within this. */
        refuse_within: duration.default('1s'),
      })
      .strict()
      .optional(),
    /** basic-auth contract: user -> password, and which pool each user must reach. */
    auth: z
      .object({
        realm_required: z.boolean().default(true),
        users: z.record(z.object({ password: z.string(), pool: z.string() }).strict()),
      })
      .strict()
      .optional(),
  })
  .strict();

/** A profile: a contract as a list of checks with severities, and bundled configs per target. */
export type Profile = z.infer<typeof profileSchema> & { file: string; configDir: string };

export function profileNames(): string[] {
  return readdirSync(PROFILE_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.replace(/\.yaml$/, ''))
    .sort();
}

export function loadProfile(name: string): Profile {
  const names = profileNames();
  if (!names.includes(name)) {
    throw new LbdrillError('LBDRILL_ERR_USAGE', `unknown profile "${name}" (known: ${names.join(', ')})`);
  }
  const file = join(PROFILE_DIR, `${name}.yaml`);
  const parsed = profileSchema.safeParse(parseYaml(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new LbdrillError('LBDRILL_ERR_SCENARIO_INVALID', `${file}: ${describeZodError(parsed.error)}`);
  return { ...parsed.data, file, configDir: resolve(REPO_ROOT, parsed.data.configs) };
}
