import { SimulatedUsers } from '../client/simulated-user.ts';
import type { LbResponse } from '../client/lb-client.ts';
import { fail, pass, type Check } from './check.ts';
import { backendOf, setCookieValue, stickyContract } from './sticky-support.ts';

/*
 * Cookie affinity, told apart from address affinity. Every user (its own source address)
 * first sends a request without the cookie, then sends each pin's cookie. The cookie passes
 * only if all USERS users carrying it reach its pinned server, while the same users without
 * it reach at least two servers.
 * - An LB pinning by address (ip_hash, `balance source`) sends each user's requests, cookie
 *   or not, to the one server its address hashes to: users without the cookie spreading means
 *   some user's cookie requests leave the pin. The two requirements cannot both hold: such a
 *   config fails with certainty.
 * - An LB ignoring the cookie any other way (round robin, least connections, a random draw)
 *   puts each user's request on the pinned server with probability about 1/n, n >= 2 servers
 *   in the pool: all USERS users of one pin land there by chance with (1/2)^12 ≈ 2.4e-4, all
 *   PINS pins with (1/2)^48 ≈ 3.6e-15.
 * - A correct config's requests without the cookie are balanced (round robin alternates); a
 *   random balancer would put all 12 on one of 2 servers with 2 x (1/2)^12 ≈ 4.9e-4.
 */
/** Users, each from its own address, sending every pin's cookie. */
const USERS = 12;
/** Cookies, each pinned by the first request of one user. */
const PINS = 4;
/** Requests per user and pin: the first on a new connection, the rest on its kept-alive one. */
const REQUESTS_PER_USER = 2;

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
  async run(ctx) {
    const { pool, cookie } = stickyContract(ctx);
    const expected = `${PINS} ${cookie} values, each sent ${REQUESTS_PER_USER} times by ${USERS} users from distinct addresses, new connections included: all reach the value's pinned backend; the same users without the cookie reach more than one backend`;
    await using users = new SimulatedUsers({ caPem: ctx.caPem, seed: ctx.seed, purpose: stickyCookieHonoured.id, count: USERS });
    const key = (res: LbResponse) => backendOf(res) ?? `status ${res.status ?? res.error?.kind}`;
    // Without the cookie: where each user's address alone takes it.
    const bare: Array<{ address: string; backend: string; given: string | undefined }> = [];
    for (const user of users.users) {
      const res = await user.http.send(ctx.app, { path: `${pool.probePath}?sticky-user=${user.index}`, headers: ctx.tag(ctx.nextId()) }, { fresh: true });
      bare.push({ address: user.address, backend: key(res), given: setCookieValue(res, cookie) });
    }
    const pins: Array<{ cookie: string; source: 'lb' | 'client'; pinned: string; backends: Record<string, number>; strays: Array<{ address: string; backend: string }> }> = [];
    for (let p = 0; p < PINS; p++) {
      const owner = bare[p]!;
      let value = owner.given;
      let pinned = owner.backend;
      if (value === undefined) {
        value = `lbdrill-client-${ctx.seed}-${p}`;
        const first = await users.at(p).http.send(ctx.app, { path: `${pool.probePath}?sticky-pin=${p}`, headers: ctx.tag(ctx.nextId(), { cookie: `${cookie}=${value}` }) }, { fresh: true });
        pinned = key(first);
      }
      const pin = { cookie: value, source: owner.given === undefined ? ('client' as const) : ('lb' as const), pinned, backends: {} as Record<string, number>, strays: [] as Array<{ address: string; backend: string }> };
      for (const user of users.users) {
        for (let i = 0; i < REQUESTS_PER_USER; i++) {
          const res = await user.http.send(ctx.app, { path: `${pool.probePath}?sticky-pin=${p}&user=${user.index}&i=${i}`, headers: ctx.tag(ctx.nextId(), { cookie: `${cookie}=${value}` }) }, { fresh: i === 0 });
          const backend = key(res);
          pin.backends[backend] = (pin.backends[backend] ?? 0) + 1;
          if (backend !== pinned || backend.startsWith('status')) pin.strays.push({ address: user.address, backend });
        }
      }
      pins.push(pin);
    }
    const spread = [...new Set(bare.map((b) => b.backend))];
    const evidence = { users: USERS, withoutCookie: bare.map(({ address, backend }) => ({ address, backend })), pins };
    const strays = pins.flatMap((p) => p.strays.map((s) => ({ ...s, pin: p })));
    if (strays.length > 0) {
      const s = strays[0]!;
      const byAddress = strays.every((x) => bare.find((b) => b.address === x.address)?.backend === x.backend);
      const why = byAddress ? ': every stray went where its address goes without the cookie (the LB pins by client address, not by cookie)' : '';
      return fail(expected, `${strays.length} of ${PINS * USERS * REQUESTS_PER_USER} requests with ${cookie} left their pinned backend, e.g. ${s.address} with ${cookie}=${s.pin.cookie} (pinned to ${s.pin.pinned}) reached ${s.backend}${why}`, evidence);
    }
    if (spread.length < 2) return fail(expected, `without the cookie all ${USERS} users reached ${spread[0]}: no balancing to tell cookie affinity by`, evidence);
    const origin = pins.every((p) => p.source === 'lb') ? 'cookies set by the LB' : 'cookie values of the client (the LB sets none)';
    return pass(expected, `each of ${PINS} ${cookie} values kept all ${USERS} users on its backend (${pins.map((p) => p.pinned).join(', ')}), ${origin}; without it the same users reached ${spread.length} backends`, evidence);
  },
};
