import { fail, pass, type Check } from './check.ts';
import { backendOf, setCookieValue } from './sticky-support.ts';
import { stickyContract } from '../contracts/sticky.ts';

/** Logged-in users, each pinned by an HTTP request, then upgrading to a WebSocket. */
const USERS = 20;

/** Seed 001: the WebSocket upgrade carrying the cookie lands on the instance that issued it. */
export const stickyWsSameBackend: Check = {
  id: 'sticky.ws-same-backend',
  title: 'a WebSocket upgrade carrying the affinity cookie lands on the backend that issued it',
  severity: 'must',
  needs: ['websocket'],
  needsPool: true,
  async run(ctx) {
    const contract = stickyContract(ctx);
    const { pool, cookie, wsPath } = contract;
    const expected = `${USERS} users: the WebSocket upgrade on ${wsPath} with ${cookie} reaches the backend that answered their HTTP request`;
    const users: Array<{ cookie: string; http: string | null; ws?: string }> = [];
    for (let i = 0; i < USERS; i++) {
      const res = await ctx.client.send(ctx.app, { path: `${pool.probePath}?login=${i}`, headers: ctx.tag(ctx.nextId()) }, { fresh: true });
      const given = setCookieValue(res, cookie);
      if (given !== undefined) {
        users.push({ cookie: given, http: backendOf(res) });
        continue;
      }
      // The LB sets no cookie (nginx OSS): the application's value, hashed by the LB.
      const value = `lbdrill-user-${ctx.seed}-${i}`;
      const pinned = await ctx.client.send(ctx.app, { path: `${pool.probePath}?login=${i}`, headers: ctx.tag(ctx.nextId(), { cookie: `${cookie}=${value}` }) });
      users.push({ cookie: value, http: backendOf(pinned) });
    }
    const fleet = await ctx.wsFleet({ count: USERS, pathFor: () => wsPath, cookies: (i) => ({ [cookie]: users[i]!.cookie }) });
    try {
      await fleet.waitAllConnected(20_000);
    } catch (err) {
      return fail(expected, `not every WebSocket connected: ${(err as Error).message}`, { users, stats: fleet.stats() });
    }
    fleet.clients.forEach((c, i) => (users[i]!.ws = c.backend ?? '?'));
    const elsewhere = users.filter((u) => u.ws !== u.http);
    const evidence = { users, perBackend: fleet.stats().perBackend };
    if (elsewhere.length > 0) return fail(expected, `${elsewhere.length} of ${USERS} upgrades landed elsewhere (e.g. HTTP on ${elsewhere[0]!.http}, WebSocket on ${elsewhere[0]!.ws})`, evidence);
    const spread = new Set(users.map((u) => u.http)).size;
    return pass(expected, `all ${USERS} upgrades reached the backend of their cookie (${spread} backends in use)`, evidence);
  },
};
