import { SimulatedUsers } from '../client/simulated-user.ts';
import { fail, pass, type Check } from './check.ts';
import { backendOf, setCookieValue, stickyContract } from './sticky-support.ts';

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
 * - Logins must reach at least two backends, or no address leads elsewhere; a correct config
 *   balances them (round robin alternates; nginx hashes 20 distinct cookie values, all on
 *   one of 2 servers with 2 x (1/2)^20 ≈ 1.9e-6).
 */
/** Logged-in users, each pinned by an HTTP request, then upgrading to WebSockets. */
const USERS = 20;

/** Seed 001: the WebSocket upgrade carrying the cookie lands on the instance that issued it. */
export const stickyWsSameBackend: Check = {
  id: 'sticky.ws-same-backend',
  title: 'a WebSocket upgrade carrying the affinity cookie lands on the backend that issued it',
  severity: 'must',
  needs: ['websocket'],
  async run(ctx) {
    const { pool, cookie, wsPath } = stickyContract(ctx);
    const expected = `${USERS} users log in over HTTP, each from its own address: their WebSocket upgrades on ${wsPath} with ${cookie}, from the login's address and from another, reach the backend that answered the login; logins reach more than one backend`;
    await using users = new SimulatedUsers({ caPem: ctx.caPem, seed: ctx.seed, purpose: stickyWsSameBackend.id, count: USERS });
    const logins: Array<{ address: string; cookie: string; http: string | null; ws?: string; roamingAddress?: string; roamingLogin?: string | null; roamingWs?: string }> = [];
    for (const user of users.users) {
      const i = user.index;
      const res = await user.http.send(ctx.app, { path: `${pool.probePath}?login=${i}`, headers: ctx.tag(ctx.nextId()) }, { fresh: true });
      const given = setCookieValue(res, cookie);
      if (given !== undefined) {
        logins.push({ address: user.address, cookie: given, http: backendOf(res) });
        continue;
      }
      // The LB sets no cookie (nginx OSS): the application's value, hashed by the LB.
      const value = `lbdrill-user-${ctx.seed}-${i}`;
      const pinned = await user.http.send(ctx.app, { path: `${pool.probePath}?login=${i}`, headers: ctx.tag(ctx.nextId(), { cookie: `${cookie}=${value}` }) });
      logins.push({ address: user.address, cookie: value, http: backendOf(pinned) });
    }
    const spread = new Set(logins.map((u) => u.http)).size;
    if (spread < 2) return fail(expected, `all ${USERS} logins reached ${logins[0]!.http}: no balancing to tell affinity by`, { logins });
    // the next user (cyclically) whose login reached another backend lends its address
    for (const [i, login] of logins.entries()) {
      for (let k = 1; k < USERS && login.roamingAddress === undefined; k++) {
        const other = logins[(i + k) % USERS]!;
        if (other.http !== login.http) Object.assign(login, { roamingAddress: other.address, roamingLogin: other.http });
      }
    }
    const fleet = await ctx.wsFleet({ count: 2 * USERS, localAddress: (i) => (i < USERS ? logins[i]!.address : logins[i - USERS]!.roamingAddress), pathFor: () => wsPath, cookies: (i) => ({ [cookie]: logins[i % USERS]!.cookie }) });
    try {
      await fleet.waitAllConnected(20_000);
    } catch (err) {
      return fail(expected, `not every WebSocket connected: ${(err as Error).message}`, { logins, stats: fleet.stats() });
    }
    fleet.clients.forEach((c, i) => {
      const login = logins[i % USERS]!;
      if (i < USERS) login.ws = c.backend ?? '?';
      else login.roamingWs = c.backend ?? '?';
    });
    const evidence = { logins, perBackend: fleet.stats().perBackend };
    const home = logins.filter((u) => u.ws !== u.http);
    if (home.length > 0) return fail(expected, `${home.length} of ${USERS} upgrades from the login's own address landed elsewhere (e.g. ${home[0]!.address}: HTTP on ${home[0]!.http}, WebSocket on ${home[0]!.ws})`, evidence);
    const roaming = logins.filter((u) => u.roamingWs !== u.http);
    if (roaming.length > 0) {
      const u = roaming[0]!;
      const byAddress = roaming.every((r) => r.roamingWs === r.roamingLogin) ? `, where that address's own login went (the LB follows addresses, not the cookie)` : '';
      return fail(expected, `${roaming.length} of ${USERS} upgrades with the cookie from another user's address landed elsewhere, e.g. ${u.roamingAddress} with the cookie of a login on ${u.http} reached ${u.roamingWs}${byAddress}`, evidence);
    }
    return pass(expected, `all ${2 * USERS} upgrades (${USERS} from the login's address, ${USERS} from another user's) reached the backend of their cookie (${spread} backends in use)`, evidence);
  },
};
