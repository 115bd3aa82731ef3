import type { Endpoint, LbClient } from '../client/lb-client.ts';
import { basicAuth } from '../checks/auth-support.ts';
import type { BackendBinding, PoolBinding } from '../checks/check.ts';
import { bindAuth, type AuthContract } from '../contracts/auth.ts';
import type { Binding } from '../contracts/binding.ts';
import { poolFrom, type PoolMatch } from '../contracts/pools.ts';
import { bindPoolContract } from '../contracts/pool-contract.ts';
import type { StickyContract } from '../contracts/sticky.ts';
import type { Weights } from '../contracts/weights.ts';
import type { Profile } from '../profiles/profile.ts';
import type { ConfigAnalysis } from '../targets/config-plan.ts';

/** The profile's contract values as bound to one running target. */
export interface TargetBindings {
  /** the profile pools the config has. */
  pools: PoolBinding[];
  /** profile pool -> its path prefix and why the config has none for it. */
  missing: ReadonlyMap<string, { pathPrefix: string; reason: string }>;
  sticky: StickyContract | undefined;
  /** profile pool -> the weights its traffic must follow, where the config or the profile states any. */
  weights: ReadonlyMap<string, Weights>;
  /** the basic-auth contract as bound to the config's declared users. */
  auth: AuthContract | undefined;
  /** everything above, with where it came from, for the terminal and report.json. */
  bindings: Binding[];
}

/** How many times a pool's probe path is sent to find or confirm the pool answering it. */
const PROBES_PER_POOL = 3;

/**
 * Binds the profile's contract to a running target: each pool matched by name or --pool is confirmed
 * by traffic (its probe path must reach one of its servers), the others are the config pool whose
 * server answers their probe path; then the sticky cookie, weights and health checks of those pools.
 */
export async function bindTarget(options: {
  profile: Profile;
  matches: readonly PoolMatch[];
  analysis: ConfigAnalysis;
  sourceFile: string;
  backends: readonly BackendBinding[];
  client: LbClient;
  app: Endpoint;
  auth: AuthContract | undefined;
  nextId: () => string;
}): Promise<TargetBindings> {
  const { profile, analysis, sourceFile } = options;
  const pools: PoolBinding[] = [];
  const missing = new Map<string, { pathPrefix: string; reason: string }>();
  const bindings: Binding[] = [];
  const taken = new Set(options.matches.flatMap((m) => (m.configName ? [m.configName] : [])));
  for (const match of options.matches) {
    const answered = await answeringPools(options, match.probePath, credentialsFor(profile, match.name));
    if (match.configName !== undefined) {
      const confirms = answered.pools.includes(match.configName);
      bindings.push({ ...match.binding, detail: [match.binding.detail, confirms ? `GET ${match.probePath} answered by ${answered.backend}` : `but GET ${match.probePath} ${answered.what}`].filter(Boolean).join('; ') });
      pools.push(poolFrom(match, match.configName, analysis, options.backends));
      continue;
    }
    const configName = answered.pools.find((p) => !taken.has(p)) ?? answered.pools[0];
    if (configName === undefined) {
      const reason = `the config has no pool named ${match.name} and GET ${match.probePath} ${answered.what} (pools in the file: ${[...new Set(analysis.upstreams.map((u) => u.pool))].join(', ')}); map it with --pool ${match.name}=NAME`;
      missing.set(match.name, { pathPrefix: match.pathPrefix, reason });
      bindings.push({ what: `pool ${match.name}`, value: 'none', from: 'missing', detail: reason });
      continue;
    }
    taken.add(configName);
    const first = analysis.upstreams.find((u) => u.pool === configName);
    bindings.push({ what: `pool ${match.name}`, value: configName, from: 'traffic', detail: `GET ${match.probePath} answered by ${answered.backend}`, file: first?.file ?? sourceFile, ...(first ? { line: first.line } : {}) });
    pools.push(poolFrom(match, configName, analysis, options.backends));
  }
  let sticky: StickyContract | undefined;
  const weights = new Map<string, Weights>();
  for (const pool of pools) {
    const bound = bindPoolContract(profile, pool.name, pool.configName, analysis, sourceFile);
    bindings.push(...bound.bindings);
    if (bound.weights) weights.set(pool.name, bound.weights);
    sticky ??= bound.sticky;
  }
  let auth = options.auth;
  if (auth) {
    const admits = async (user: string, password: string): Promise<string | undefined> => {
      for (const pool of pools) {
        const answered = await answeringPools(options, pool.probePath, { authorization: basicAuth(user, password) });
        if (answered.pools.includes(pool.configName)) return pool.configName;
      }
      return undefined;
    };
    const bound = await bindAuth(auth, analysis.authUsers, sourceFile, admits);
    auth = bound.contract;
    bindings.push(...bound.bindings);
  }
  return { pools, missing, sticky, weights, auth, bindings };
}

/** Basic credentials of a profile user who must reach this pool: behind auth, only they get there. */
function credentialsFor(profile: Profile, pool: string): Record<string, string> {
  const user = Object.entries(profile.auth?.users ?? {}).find(([, u]) => u.pool === pool);
  return user ? { authorization: basicAuth(user[0], user[1].password) } : {};
}

/** Sends a pool's probe path and returns the config pools of the server that answered (several when the server is in several pools). */
async function answeringPools(options: { client: LbClient; app: Endpoint; backends: readonly BackendBinding[]; analysis: ConfigAnalysis; nextId: () => string }, path: string, headers: Record<string, string>): Promise<{ pools: string[]; backend: string; what: string }> {
  let what = 'got no answer';
  for (let i = 0; i < PROBES_PER_POOL; i++) {
    const res = await options.client.send(options.app, { path, headers: { 'x-lbdrill-id': options.nextId(), ...headers } });
    const id = res.headers['x-lbdrill-backend'];
    const backend = options.backends.find((b) => b.backend.id === id);
    if (backend) {
      const pools = [...new Set(options.analysis.upstreams.filter((u) => u.address === backend.upstream.address).map((u) => u.pool))];
      return { pools, backend: `${backend.backend.id} (${pools.join(', ')})`, what: `answered by ${backend.backend.id} of ${pools.join(', ')}` };
    }
    what = res.status !== undefined ? `was answered ${res.status} by the LB itself, no server` : `failed (${res.error?.kind})`;
  }
  return { pools: [], backend: '', what };
}
