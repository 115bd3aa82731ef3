import { fail, pass, type Check } from './check.ts';
import { sourceClients } from './source-clients.ts';
import { backendOf } from './sticky-support.ts';
import { contractPool } from '../contracts/pools.ts';

/** Requests fired at once from one address: well past seed 004's burst of 20. */
const BURST_REQUESTS = 60;
/** Accepted requests allowed: burst 20 + 1, plus what the rate refills while the burst is sent (10 r/s), plus slack. */
const MAX_ACCEPTED_BASE = 25;

/** Seed 004: a client over the limit (10 r/s, burst 20 on nginx; more than 20 in 10 s on HAProxy) is refused, and refused requests reach no backend. */
export const ratelimitEnforced: Check = {
  id: 'ratelimit.enforced',
  title: 'a client over the rate limit is refused, before any backend',
  severity: 'must',
  needs: ['rate-limit'],
  needsPool: true,
  async run(ctx) {
    const path = contractPool(ctx).probePath;
    const expected = `${BURST_REQUESTS} requests at once from one address on ${path}: at most ~${MAX_ACCEPTED_BASE} accepted (burst 20 + refill), the rest refused (429/503) without reaching a backend`;
    // its own address: the allowance it uses up must not throttle the checks after it
    const { clients, close } = sourceClients(ctx, 1, 91);
    const t0 = performance.now();
    let results;
    try {
      results = await Promise.all(
        Array.from({ length: BURST_REQUESTS }, () => {
          const id = ctx.nextId();
          return clients[0]!.send(ctx.app, { path, headers: ctx.tag(id) }).then((res) => ({ id, res }));
        }),
      );
    } finally {
      await close();
    }
    const elapsedS = (performance.now() - t0) / 1000;
    const accepted = results.filter((r) => r.res.status === 200);
    const refused = results.filter((r) => r.res.status === 429 || r.res.status === 503);
    const refusedLeaks = refused.filter((r) => backendOf(r.res) !== null || ctx.received(r.id) !== undefined).length;
    const limit = MAX_ACCEPTED_BASE + Math.ceil(10 * elapsedS);
    const evidence = { accepted: accepted.length, refused: refused.length, statuses: [...new Set(results.map((r) => r.res.status ?? r.res.error?.kind))], elapsedMs: Math.round(elapsedS * 1000), maxAccepted: limit, refusedThatReachedBackend: refusedLeaks };
    if (refused.length === 0) return fail(expected, `all ${accepted.length} of ${BURST_REQUESTS} were accepted: no rate limit`, evidence);
    if (accepted.length > limit) return fail(expected, `${accepted.length} accepted, more than ${limit}`, evidence);
    if (refusedLeaks > 0) return fail(expected, `${refusedLeaks} refused requests reached a backend`, evidence);
    return pass(expected, `${accepted.length} accepted, ${refused.length} refused (${evidence.statuses.join('/')}) in ${evidence.elapsedMs} ms; no refused request reached a backend`, evidence);
  },
};
