import { SimulatedUsers } from '../client/simulated-user.ts';
import { fail, pass, type Check } from './check.ts';
import { backendOf, cookieHeaderHas, setCookieValue } from './sticky-support.ts';
import { stickyContract } from '../contracts/sticky.ts';

/** Requests sent with the issued cookie, each checked at the backend for a leak. */
const FOLLOW_UPS = 10;

/**
 * `cookie NAME insert indirect`: the first answer to a client without the cookie sets it,
 * and the cookie is the LB's own business: it never reaches a backend (indirect).
 */
export const stickyCookieInserted: Check = {
  id: 'sticky.cookie-inserted',
  title: 'the LB inserts the affinity cookie, and never passes it to the backend',
  severity: 'must',
  needs: ['sticky-cookie'],
  needsPool: true,
  async run(ctx) {
    const contract = stickyContract(ctx);
    const { pool, cookie } = contract;
    const expected = `the first response sets ${cookie}; requests carrying it reach the backend without it (other cookies intact)`;
    await using users = new SimulatedUsers({ caPem: ctx.caPem, seed: ctx.seed, purpose: stickyCookieInserted.id, count: 1 });
    const client = users.at(0).http;
    const first = await client.send(ctx.app, { path: `${pool.probePath}?sticky=first`, headers: ctx.tag(ctx.nextId()) }, { fresh: true });
    const value = setCookieValue(first, cookie);
    const setCookie = first.headers['set-cookie'] ?? null;
    if (first.status !== 200) return fail(expected, `the first request got ${first.status ?? first.error?.kind}`, { setCookie });
    if (value === undefined) return fail(expected, `no ${cookie} in the first response's Set-Cookie (${JSON.stringify(setCookie)})`, { setCookie, backend: backendOf(first) });
    const leaks: string[] = [];
    const reissued: number[] = [];
    for (let i = 0; i < FOLLOW_UPS; i++) {
      const id = ctx.nextId();
      const res = await client.send(ctx.app, { path: `${pool.probePath}?sticky=follow-${i}`, headers: ctx.tag(id, { cookie: `session=abc${i}; ${cookie}=${value}; theme=dark` }) });
      if (setCookieValue(res, cookie) !== undefined) reissued.push(i);
      const rec = await ctx.waitReceived(id, 5_000);
      if (!rec) return fail(expected, `follow-up ${i} never reached a backend (${res.status ?? res.error?.kind})`);
      const header = rec.headers['cookie'];
      if (cookieHeaderHas(header, cookie)) leaks.push(`${rec.backend}: ${String(header)}`);
      if (!cookieHeaderHas(header, 'session') || !cookieHeaderHas(header, 'theme')) leaks.push(`${rec.backend}: other cookies lost: ${String(header)}`);
    }
    const evidence = { setCookie, cookieValue: value, firstBackend: backendOf(first), followUps: FOLLOW_UPS, leaks, reissuedOnFollowUps: reissued };
    if (leaks.length > 0) return fail(expected, `${leaks.length} of ${FOLLOW_UPS} requests reached the backend with ${cookie} (not indirect): ${leaks[0]}`, evidence);
    return pass(expected, `first response set ${cookie}=${value}; ${FOLLOW_UPS} requests with it reached the backend without it, other cookies intact`, evidence);
  },
};
