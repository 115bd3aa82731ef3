import { SimulatedUsers } from '../client/simulated-user.ts';
import type { LbResponse } from '../client/lb-client.ts';
import { fail, pass, type Check } from './check.ts';
import { backendOf, setCookieValue } from './sticky-support.ts';
import { stickyContract } from '../contracts/sticky.ts';

/*
 * Cookie affinity, told apart from address affinity. Users (each its own source address)
 * each send a request without the cookie; the first ones' answers give the pins (the LB's
 * cookie, or a value of the client's own), chosen so that the pins name at least two
 * backends. Then USERS users send every pin's cookie: all must reach the pin's backend.
 * - An LB pinning by address sends each user's requests, cookie or not, to the one server its
 *   address hashes to; with pins on two backends that server differs from some pin's, so
 *   address affinity fails with certainty, whatever its hash.
 * - An LB ignoring the cookie any other way (round robin, least connections, a random draw)
 *   puts each request on the pinned server with probability about 1/n, n >= 2 servers in the
 *   pool: the USERS x REQUESTS_PER_USER requests of one pin all land there by chance with
 *   (1/2)^24 ≈ 6e-8.
 * - Finding pins on two backends may take more users than USERS: Apache's byrequests counts
 *   requests that followed a cookie too, so after an earlier check's pinned traffic it sends
 *   every new client to the other server until the counts are even again.
 */
/** Users, each from its own address, sending every pin's cookie. */
const USERS = 12;
/** Cookies, each pinned by the first request of one user. */
const PINS = 4;
/** Requests per user and pin: the first on a new connection, the rest on its kept-alive one. */
const REQUESTS_PER_USER = 2;
/** Users asked for a pin at most, until the pins name two backends. */
const MAX_CANDIDATES = 200;

interface Pin {
  cookie: string;
  /** who chose the value: the LB's Set-Cookie, or the client (the LB sets none). */
  source: 'lb' | 'client';
  /** the backend that answered the request the pin came from. */
  pinned: string;
}

/**
 * Requests carrying the affinity cookie all reach one backend, from whichever client address
 * they come. Where the LB sets the cookie, its value is the one given to a user's first
 * request; where it cannot (nginx OSS hashes a cookie the application sets), a value of the
 * client's own.
 */
export const stickyCookieHonoured: Check = {
  id: 'sticky.cookie-honoured',
  title: 'requests carrying the affinity cookie stay on one backend',
  severity: 'must',
  needs: [],
  needsPool: true,
  async run(ctx) {
    const { pool, cookie } = stickyContract(ctx);
    const expected = `${PINS} ${cookie} values naming at least two backends, each sent ${REQUESTS_PER_USER} times by ${USERS} users from distinct addresses, new connections included: all reach the value's pinned backend`;
    await using users = new SimulatedUsers({ caPem: ctx.caPem, seed: ctx.seed, purpose: stickyCookieHonoured.id, count: MAX_CANDIDATES });
    const key = (res: LbResponse) => backendOf(res) ?? `status ${res.status ?? res.error?.kind}`;
    // where each user's address alone takes it
    const bare = new Map<string, string>();
    const candidate = async (k: number): Promise<Pin> => {
      const user = users.at(k);
      const res = await user.http.send(ctx.app, { path: `${pool.probePath}?sticky-user=${k}`, headers: ctx.tag(ctx.nextId()) }, { fresh: true });
      bare.set(user.address, key(res));
      const given = setCookieValue(res, cookie);
      if (given !== undefined) return { cookie: given, source: 'lb', pinned: key(res) };
      const value = `lbdrill-client-${ctx.seed}-${k}`;
      const first = await user.http.send(ctx.app, { path: `${pool.probePath}?sticky-pin=${k}`, headers: ctx.tag(ctx.nextId(), { cookie: `${cookie}=${value}` }) }, { fresh: true });
      return { cookie: value, source: 'client', pinned: key(first) };
    };
    const candidates: Pin[] = [];
    for (let k = 0; k < USERS || (k < MAX_CANDIDATES && new Set(candidates.map((c) => c.pinned)).size < 2); k++) candidates.push(await candidate(k));
    const other = candidates.find((c) => c.pinned !== candidates[0]!.pinned);
    const withoutCookie = [...bare].map(([address, backend]) => ({ address, backend }));
    if (!other) return fail(expected, `all ${candidates.length} users' pins named ${candidates[0]!.pinned}: no balancing to tell cookie affinity by`, { withoutCookie, candidates });
    const first = candidates.slice(0, PINS);
    const pins = new Set(first.map((c) => c.pinned)).size > 1 ? first : [...first.slice(0, PINS - 1), other];
    const rows: Array<Pin & { backends: Record<string, number>; strays: Array<{ address: string; backend: string }> }> = [];
    for (const [p, pin] of pins.entries()) {
      const row = { ...pin, backends: {} as Record<string, number>, strays: [] as Array<{ address: string; backend: string }> };
      for (const user of users.users.slice(0, USERS)) {
        for (let i = 0; i < REQUESTS_PER_USER; i++) {
          const res = await user.http.send(ctx.app, { path: `${pool.probePath}?sticky-pin=${p}&user=${user.index}&i=${i}`, headers: ctx.tag(ctx.nextId(), { cookie: `${cookie}=${pin.cookie}` }) }, { fresh: i === 0 });
          const backend = key(res);
          row.backends[backend] = (row.backends[backend] ?? 0) + 1;
          if (backend !== pin.pinned || backend.startsWith('status')) row.strays.push({ address: user.address, backend });
        }
      }
      rows.push(row);
    }
    const evidence = { users: USERS, candidates: candidates.length, withoutCookie, pins: rows };
    const strays = rows.flatMap((p) => p.strays.map((s) => ({ ...s, pin: p })));
    if (strays.length > 0) {
      const s = strays[0]!;
      const byAddress = strays.every((x) => bare.get(x.address) === x.backend) ? ': every stray went where its address goes without the cookie (the LB pins by client address, not by cookie)' : '';
      return fail(expected, `${strays.length} of ${PINS * USERS * REQUESTS_PER_USER} requests with ${cookie} left their pinned backend, e.g. ${s.address} with ${cookie}=${s.pin.cookie} (pinned to ${s.pin.pinned}) reached ${s.backend}${byAddress}`, evidence);
    }
    const origin = rows.every((p) => p.source === 'lb') ? 'cookies set by the LB' : 'cookie values of the client (the LB sets none)';
    return pass(expected, `each of ${PINS} ${cookie} values kept all ${USERS} users on its backend (${rows.map((p) => p.pinned).join(', ')}), ${origin}`, evidence);
  },
};
