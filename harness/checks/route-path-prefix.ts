import { fail, pass, type Check } from './check.ts';
import { basicAuth } from './auth-support.ts';
import { poolOf } from '../contracts/pools.ts';
import { authUsers } from '../contracts/auth.ts';
import { backendOf } from './sticky-support.ts';

/** Requests per path family. */
const REQUESTS = 5;

/** Seed 003: `path_beg /app3` and `/app4` ACLs send those paths to their own backends, the rest to the default. */
export const routePathPrefix: Check = {
  id: 'route.path-prefix',
  title: 'path prefixes route to their own backends, the rest to the default',
  severity: 'must',
  needs: [],
  async run(ctx) {
    const expected = '/app3… reaches app3, /app4… reaches app4, any other path (authenticated as a non-vip user) reaches default';
    const plain = authUsers(ctx).find((u) => u.pool.name === 'default');
    const cases = [
      { path: '/app3', pool: 'app3' },
      { path: '/app3/orders?id=7', pool: 'app3' },
      { path: '/app4/', pool: 'app4' },
      { path: '/app4/report.csv', pool: 'app4' },
      { path: '/dashboard', pool: 'default' },
      { path: '/app5/x', pool: 'default' },
    ];
    const rows: Array<{ path: string; want: string; got: string[] }> = [];
    for (const c of cases) {
      const got: string[] = [];
      for (let i = 0; i < REQUESTS; i++) {
        const headers: Record<string, string> = c.pool === 'default' && plain ? { authorization: basicAuth(plain.user, plain.password) } : {};
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
