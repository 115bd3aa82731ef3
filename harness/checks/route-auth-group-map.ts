import { fail, pass, type Check } from './check.ts';
import { basicAuth } from './auth-support.ts';
import { poolOf } from '../contracts/pools.ts';
import { authUsers } from '../contracts/auth.ts';
import { backendOf } from './sticky-support.ts';
import { contractPool } from '../contracts/pools.ts';

/** Requests per user. */
const REQUESTS = 10;

/** Seed 003: the authenticated user's group picks the backend through a map (vip -> deluxe, others -> default). */
export const routeAuthGroupMap: Check = {
  id: 'route.auth-group-map',
  title: 'the authenticated user is routed by the group map (vip to deluxe, others to default)',
  severity: 'must',
  needs: [],
  needsPool: true,
  async run(ctx) {
    const users = authUsers(ctx);
    const expected = users.map((u) => `${u.user} -> ${u.pool.name}`).join(', ') + `, ${REQUESTS} requests each`;
    const rows: Array<{ user: string; want: string; got: string[] }> = [];
    for (const u of users) {
      const got: string[] = [];
      for (let i = 0; i < REQUESTS; i++) {
        const res = await ctx.client.send(ctx.app, { path: `${contractPool(ctx).pathPrefix}orders/${i}`, headers: ctx.tag(ctx.nextId(), { authorization: basicAuth(u.user, u.password) }) }, { fresh: i % 3 === 0 });
        got.push(poolOf(ctx, backendOf(res)) ?? `status ${res.status ?? res.error?.kind}`);
      }
      rows.push({ user: u.user, want: u.pool.name, got });
    }
    const wrong = rows.filter((r) => r.got.some((g) => g !== r.want));
    if (wrong.length > 0) return fail(expected, `${wrong[0]!.user} reached ${[...new Set(wrong[0]!.got)].join(', ')} instead of ${wrong[0]!.want}`, { rows });
    return pass(expected, rows.map((r) => `${r.user} -> ${r.want} x${REQUESTS}`).join(', '), { rows });
  },
};
