import { SimulatedUsers } from '../client/simulated-user.ts';
import { fail, pass, type Check } from './check.ts';
import { backendOf, setCookieValue } from './sticky-support.ts';
import { stickyContract } from '../contracts/sticky.ts';

/*
 * Each user logs in over HTTP from its own address and opens two WebSockets carrying its
 * cookie: one from that address (the browser tab), one from the address of another user
 * whose login reached another backend (the same session after its address changed: Wi-Fi to
 * mobile data, another egress of a proxy pool). Cookie affinity puts both on the login's
 * backend.
 * - An LB pinning by address sends the second where that other address goes, which its own
 *   login showed is another backend: address affinity fails for certain, whatever its hash.
 * - An LB ignoring both puts each upgrade on the login's backend with probability about 1/n,
 *   n >= 2 servers: all 2 x USERS of them with (1/2)^40 ≈ 9e-13.
 * - Logins must reach at least two backends, or no address leads elsewhere: users keep
 *   logging in (at most MAX_LOGINS) until they do, as Apache's byrequests sends every new
 *   client to one server while it evens out the requests an earlier check pinned to the other.
 */
/** Logged-in users, each pinned by an HTTP request, then upgrading to WebSockets. */
const USERS = 20;
/** Logins at most, until two backends have answered one. */
const MAX_LOGINS = 200;

/** Seed 001: the WebSocket upgrade carrying the cookie lands on the instance that issued it. */
export const stickyWsSameBackend: Check = {
  id: 'sticky.ws-same-backend',
  title: 'a WebSocket upgrade carrying the affinity cookie lands on the backend that issued it',
  severity: 'must',
  needs: ['websocket'],
  needsPool: true,
  async run(ctx) {
    const { pool, cookie, wsPath } = stickyContract(ctx);
    const expected = `${USERS} users log in over HTTP, each from its own address: their WebSocket upgrades on ${wsPath} with ${cookie}, from the login's address and from another, reach the backend that answered the login; logins reach more than one backend`;
    await using users = new SimulatedUsers({ caPem: ctx.caPem, seed: ctx.seed, purpose: stickyWsSameBackend.id, count: MAX_LOGINS });
    const logins: Array<{ address: string; cookie: string; http: string | null; ws?: string; roamingAddress?: string; roamingLogin?: string | null; roamingWs?: string }> = [];
    const login = async (k: number) => {
      const user = users.at(k);
      const res = await user.http.send(ctx.app, { path: `${pool.probePath}?login=${k}`, headers: ctx.tag(ctx.nextId()) }, { fresh: true });
      const given = setCookieValue(res, cookie);
      if (given !== undefined) return { address: user.address, cookie: given, http: backendOf(res) };
      // The LB sets no cookie (nginx OSS): the application's value, hashed by the LB.
      const value = `lbdrill-user-${ctx.seed}-${k}`;
      const pinned = await user.http.send(ctx.app, { path: `${pool.probePath}?login=${k}`, headers: ctx.tag(ctx.nextId(), { cookie: `${cookie}=${value}` }) });
      return { address: user.address, cookie: value, http: backendOf(pinned) };
    };
    for (let k = 0; k < USERS || (k < MAX_LOGINS && new Set(logins.map((u) => u.http)).size < 2); k++) logins.push(await login(k));
    const spread = new Set(logins.map((u) => u.http)).size;
    if (spread < 2) return fail(expected, `all ${logins.length} logins reached ${logins[0]!.http}: no balancing to tell affinity by`, { logins });
    // the next login (cyclically) that reached another backend lends its address
    const tested = logins.slice(0, USERS);
    for (const [i, u] of tested.entries()) {
      for (let k = 1; k < logins.length && u.roamingAddress === undefined; k++) {
        const other = logins[(i + k) % logins.length]!;
        if (other.http !== u.http) Object.assign(u, { roamingAddress: other.address, roamingLogin: other.http });
      }
    }
    const fleet = await ctx.wsFleet({ count: 2 * USERS, localAddress: (i) => (i < USERS ? tested[i]!.address : tested[i - USERS]!.roamingAddress), pathFor: () => wsPath, cookies: (i) => ({ [cookie]: tested[i % USERS]!.cookie }) });
    try {
      await fleet.waitAllConnected(20_000);
    } catch (err) {
      return fail(expected, `not every WebSocket connected: ${(err as Error).message}`, { logins: tested, stats: fleet.stats() });
    }
    fleet.clients.forEach((c, i) => {
      const u = tested[i % USERS]!;
      if (i < USERS) u.ws = c.backend ?? '?';
      else u.roamingWs = c.backend ?? '?';
    });
    const evidence = { logins: tested, loginsMade: logins.length, perBackend: fleet.stats().perBackend };
    const home = tested.filter((u) => u.ws !== u.http);
    if (home.length > 0) return fail(expected, `${home.length} of ${USERS} upgrades from the login's own address landed elsewhere (e.g. ${home[0]!.address}: HTTP on ${home[0]!.http}, WebSocket on ${home[0]!.ws})`, evidence);
    const roaming = tested.filter((u) => u.roamingWs !== u.http);
    if (roaming.length > 0) {
      const u = roaming[0]!;
      const byAddress = roaming.every((r) => r.roamingWs === r.roamingLogin) ? `, where that address's own login went (the LB follows addresses, not the cookie)` : '';
      return fail(expected, `${roaming.length} of ${USERS} upgrades with the cookie from another user's address landed elsewhere, e.g. ${u.roamingAddress} with the cookie of a login on ${u.http} reached ${u.roamingWs}${byAddress}`, evidence);
    }
    return pass(expected, `all ${2 * USERS} upgrades (${USERS} from the login's address, ${USERS} from another user's) reached the backend of their cookie (${spread} backends in use)`, evidence);
  },
};
