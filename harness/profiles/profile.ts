import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CHECKS } from '../checks/registry.ts';
import { LbdrillError } from '../errors.ts';
import { describeZodError } from '../zod-message.ts';
import { REPO_ROOT } from '../paths.ts';
import { authSchema } from '../contracts/auth.ts';
import { BUDGET_NAMES } from '../contracts/budgets.ts';
import { durationSchema } from '../contracts/duration-schema.ts';
import { nodeMapSchema } from '../contracts/node-map.ts';
import { poolSchema } from '../contracts/pools.ts';
import { limitsSchema } from '../contracts/limits.ts';
import { queueSchema } from '../contracts/queue.ts';
import { stickySchema } from '../contracts/sticky.ts';
import { mergeProfiles } from './merge-profiles.ts';

const PROFILE_DIR = join(REPO_ROOT, 'scenarios', 'profiles');

const failoverSchema = z
  .object({
    /** default --time-scale for this profile. */
    time_scale: z.number().positive().max(10).default(1),
    /** probe stream rate, requests per second. */
    probe_rate: z.number().int().min(1).max(2000).default(200),
    /** distinct client addresses the probe stream rotates over (a contract with a per-address rate limit needs many). */
    probe_sources: z.number().int().min(1).max(1000).default(1),
    /** budgets at time scale 1; scaled with the intervals. */
    budgets: z.record(z.enum(BUDGET_NAMES as [string, ...string[]]), durationSchema).default({}),
  })
  .strict();

const checkEntrySchema = z
  .object({
    id: z.string().refine((id) => CHECKS.has(id), (id) => ({ message: `unknown check "${id}"` })),
    severity: z.enum(['must', 'should']),
    /** the profile pool the check acts on (default: the first). */
    pool: z.string().min(1).optional(),
  })
  .strict();

const profileSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9-]+$/),
    title: z.string(),
    source: z.string().optional(),
    /** bundled configs, one per target, relative to the profile file's repository (bundled profiles) or to the profile file. */
    configs: z.string().optional(),
    checks: z.array(checkEntrySchema).min(1),
    /** pools the checks act on, first = the default pool of a check (the one failover drills stop a server of). */
    pools: z.array(poolSchema).default([]),
    /** scenario files (relative to the repository root) a run of this profile includes after its checks. */
    scenarios: z.array(z.string().min(1)).default([]),
    failover: failoverSchema.default({}),
    /** sticky-cookie contract: the cookie when the config names none, and the WebSocket path on the cookie-sticky pool. */
    sticky: stickySchema.optional(),
    /** header-map contract (seed 002). */
    node_map: nodeMapSchema.optional(),
    /** server queue contract (seed 002). */
    queue: queueSchema.optional(),
    /** basic-auth contract: user -> password, and which pool each user must reach. */
    auth: authSchema.optional(),
    /** hostile-client contract (http-hardening): the most time and header size a config may give a client, and the encoded-slash rule. */
    limits: limitsSchema.optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    const pools = new Set(p.pools.map((x) => x.name));
    p.checks.forEach((c, i) => {
      if (c.pool !== undefined && !pools.has(c.pool)) ctx.addIssue({ code: 'custom', path: ['checks', i, 'pool'], message: `no pool "${c.pool}" in pools (${[...pools].join(', ') || 'none'})` });
    });
    const seen = new Set<string>();
    p.checks.forEach((c, i) => {
      if (seen.has(c.id)) ctx.addIssue({ code: 'custom', path: ['checks', i, 'id'], message: `check "${c.id}" listed twice` });
      seen.add(c.id);
    });
  });

/** A profile: a contract as a list of checks with severities, its contract values, and bundled configs per target when it has them. */
export type Profile = Omit<z.infer<typeof profileSchema>, 'configs'> & {
  /** the profile file (the last of an `extends` chain). */
  file: string;
  /** directory of bundled configs; undefined for a profile without any (every target needs NAME=FILE). */
  configDir: string | undefined;
};

export function profileNames(): string[] {
  return readdirSync(PROFILE_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.replace(/\.yaml$/, ''))
    .sort();
}

/** A bundled profile's name or a profile file's path -> the file. */
function profileFile(ref: string, from: string | undefined): string {
  if (profileNames().includes(ref)) return join(PROFILE_DIR, `${ref}.yaml`);
  const asPath = resolve(from ? dirname(from) : process.cwd(), ref);
  if (/[\\/]|\.ya?ml$/.test(ref) && existsSync(asPath)) return asPath;
  const where = from ? `${from}: extends: ` : '';
  throw new LbdrillError('LBDRILL_ERR_USAGE', `${where}unknown profile "${ref}" (bundled: ${profileNames().join(', ')}; or a path to a profile file)`);
}

function readProfileFile(file: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new LbdrillError('LBDRILL_ERR_SCENARIO_INVALID', `${file}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new LbdrillError('LBDRILL_ERR_SCENARIO_INVALID', `${file}: expected a mapping of profile fields`);
  return raw as Record<string, unknown>;
}

/**
 * Loads a bundled profile by name, or a profile file by path. A file may `extends:` another
 * (bundled name or path): it inherits every field and overrides what it states (see
 * merge-profiles.ts); the result is validated as a whole, errors naming the file and field.
 */
export function loadProfile(ref: string): Profile {
  const chain: string[] = [];
  let file = profileFile(ref, undefined);
  const layers: Array<{ file: string; raw: Record<string, unknown> }> = [];
  for (;;) {
    if (chain.includes(file)) throw new LbdrillError('LBDRILL_ERR_SCENARIO_INVALID', `${file}: extends: a cycle (${[...chain, file].map((f) => basename(f)).join(' -> ')})`);
    chain.push(file);
    const raw = readProfileFile(file);
    layers.unshift({ file, raw });
    if (raw['extends'] === undefined) break;
    if (typeof raw['extends'] !== 'string') throw new LbdrillError('LBDRILL_ERR_SCENARIO_INVALID', `${file}: extends: expected a profile name or path`);
    file = profileFile(raw['extends'], file);
  }
  const own = layers[layers.length - 1]!;
  const merged = mergeProfiles(layers);
  // A profile file without a name is named after the file.
  merged['name'] ??= basename(own.file).replace(/\.ya?ml$/, '').toLowerCase().replace(/[^a-z0-9-]+/g, '-');
  const parsed = profileSchema.safeParse(merged);
  if (!parsed.success) throw new LbdrillError('LBDRILL_ERR_SCENARIO_INVALID', `${own.file}: ${describeZodError(parsed.error)}`);
  const { configs, ...rest } = parsed.data;
  // `configs` is relative to the repository for bundled profiles, to the file that states it otherwise.
  const configsFrom = [...layers].reverse().find((l) => l.raw['configs'] !== undefined)?.file;
  const configDir = configs === undefined ? undefined : resolve(configsFrom && !configsFrom.startsWith(PROFILE_DIR) ? dirname(configsFrom) : REPO_ROOT, configs);
  return { ...rest, file: own.file, configDir };
}
