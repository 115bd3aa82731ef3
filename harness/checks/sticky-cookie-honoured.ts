import { fail, pass, type Check } from './check.ts';
import { backendOf, setCookieValue } from './sticky-support.ts';
import { stickyContract } from '../contracts/sticky.ts';

/** Requests per pinned client; round robin over two servers would alternate. */
const REQUESTS = 40;
/** Clients, each pinned on its own. */
const CLIENTS = 4;

/**
 * Requests carrying the affinity cookie all reach one backend. Where the LB sets the
 * cookie, the client uses what it was given; where it cannot (nginx OSS hashes a cookie
 * the application sets), the client sends a value of its own.
 */
export const stickyCookieHonoured: Check = {
  id: 'sticky.cookie-honoured',
  title: 'requests carrying the affinity cookie stay on one backend',
  severity: 'must',
  needs: [],
  needsPool: true,
  async run(ctx) {
    const contract = stickyContract(ctx);
    const { pool, cookie } = contract;
    const expected = `${CLIENTS} clients x ${REQUESTS} requests with ${cookie}: each client's requests all reach one backend, new connections included`;
    const clients: Array<{ cookie: string; source: 'lb' | 'client'; backends: Record<string, number> }> = [];
    for (let c = 0; c < CLIENTS; c++) {
      const first = await ctx.client.send(ctx.app, { path: `${pool.probePath}?sticky-client=${c}`, headers: ctx.tag(ctx.nextId()) }, { fresh: true });
      const given = setCookieValue(first, cookie);
      const value = given ?? `lbdrill-client-${ctx.seed}-${c}`;
      const backends: Record<string, number> = {};
      for (let i = 0; i < REQUESTS; i++) {
        // every fourth request on a new connection: stickiness must not ride on connection reuse
        const res = await ctx.client.send(ctx.app, { path: `${pool.probePath}?sticky-client=${c}&i=${i}`, headers: ctx.tag(ctx.nextId(), { cookie: `${cookie}=${value}` }) }, { fresh: i % 4 === 0 });
        const key = backendOf(res) ?? `status ${res.status ?? res.error?.kind}`;
        backends[key] = (backends[key] ?? 0) + 1;
      }
      clients.push({ cookie: value, source: given === undefined ? 'client' : 'lb', backends });
    }
    const split = clients.filter((c) => Object.keys(c.backends).length !== 1 || Object.keys(c.backends)[0]!.startsWith('status'));
    const evidence = { clients };
    if (split.length > 0) return fail(expected, `${split.length} of ${CLIENTS} clients were spread: ${JSON.stringify(split[0]!.backends)}`, evidence);
    const origin = clients.every((c) => c.source === 'lb') ? 'cookies set by the LB' : 'cookie values of the client (the LB sets none)';
    return pass(expected, `each of ${CLIENTS} clients stayed on one backend for ${REQUESTS} requests (${clients.map((c) => Object.keys(c.backends)[0]).join(', ')}), ${origin}`, evidence);
  },
};
