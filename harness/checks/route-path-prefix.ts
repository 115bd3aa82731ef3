import { DrillProblem, fail, pass, type Check } from './check.ts';
import { basicAuth } from './auth-support.ts';
import { contractPool, poolOf } from '../contracts/pools.ts';
import { someAuthUser } from '../contracts/auth.ts';
import { backendOf } from './sticky-support.ts';

/** Requests per path family. */
const REQUESTS = 5;

/**
 * Seed 003: `path_beg /app3` and `/app4` ACLs send those paths to their own backends, the rest to the
 * default. Which pools are routed by path is the profile's: every pool with a `path_prefix` other than
 * `/`; the check's own pool (the profile's first) is the catch-all.
 */
export const routePathPrefix: Check = {
  id: 'route.path-prefix',
  title: 'path prefixes route to their own backends, the rest to the default',
  severity: 'must',
  needs: [],
  needsPool: true,
  async run(ctx) {
    const fallback = contractPool(ctx);
    const absent = [...ctx.missingPools].find(([, m]) => m.pathPrefix !== '/');
    if (absent) throw new DrillProblem(`the config has no pool for the profile's ${absent[0]} (${absent[1].pathPrefix}…): ${absent[1].reason}`);
    const prefixed = ctx.pools.filter((p) => p.pathPrefix !== '/' && p !== fallback);
    if (prefixed.length === 0) throw new DrillProblem('the profile routes no pool by a path prefix (pools[].path_prefix)');
    const expected = `${prefixed.map((p) => `${p.pathPrefix}… reaches ${p.name}`).join(', ')}, any other path (authenticated as a user of ${fallback.name}) reaches ${fallback.name}`;
    const plain = ctx.auth && Object.values(ctx.auth.users).some((u) => u.pool === fallback.name) ? someAuthUser(ctx, fallback) : undefined;
    const cases = [
      // the prefix without its slash too: `path_beg /app3` matches it, a `location /app3/` does not
      ...prefixed.flatMap((p) => [`${p.pathPrefix.slice(0, -1)}`, `${p.pathPrefix}orders?id=7`].map((path) => ({ path, pool: p.name }))),
      { path: `${fallback.pathPrefix}lbdrill-elsewhere`, pool: fallback.name },
      { path: fallback.probePath, pool: fallback.name },
    ];
    const rows: Array<{ path: string; want: string; got: string[] }> = [];
    for (const c of cases) {
      const got: string[] = [];
      for (let i = 0; i < REQUESTS; i++) {
        const headers: Record<string, string> = c.pool === fallback.name && plain ? { authorization: basicAuth(plain.user, plain.password) } : {};
        const res = await ctx.client.send(ctx.app, { path: c.path, headers: ctx.tag(ctx.nextId(), headers) });
        got.push(poolOf(ctx, backendOf(res)) ?? `status ${res.status ?? res.error?.kind}`);
      }
      rows.push({ path: c.path, want: c.pool, got });
    }
    const wrong = rows.filter((r) => r.got.some((g) => g !== r.want));
    if (wrong.length > 0) return fail(expected, `${wrong[0]!.path} reached ${[...new Set(wrong[0]!.got)].join(', ')} instead of ${wrong[0]!.want}${wrong.length > 1 ? ` (and ${wrong.length - 1} more paths)` : ''}`, { rows });
    return pass(expected, `${rows.length} paths x ${REQUESTS} requests reached their pools`, { rows });
  },
};
