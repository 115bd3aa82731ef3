import { fail, pass, type Check } from './check.ts';
import { sourceClients } from './source-clients.ts';

/** Half the seed's rate (10 r/s), long enough to cross HAProxy's 10 s window boundary cases. */
const RATE_PER_SEC = 5;
const REQUESTS = 20;

/** Seed 004: a client under the limit is never refused. */
export const ratelimitNotOverEager: Check = {
  id: 'ratelimit.not-over-eager',
  title: 'a client under the rate limit is never refused',
  severity: 'must',
  needs: ['rate-limit'],
  async run(ctx) {
    const path = ctx.pools[0]?.probePath ?? '/';
    const expected = `${REQUESTS} requests at ${RATE_PER_SEC} r/s from a fresh address on ${path}: all 200`;
    // a fresh address: the enforced check may have used up the default one's allowance
    const { clients, close } = sourceClients(ctx, 1, 90);
    const statuses: Array<number | string> = [];
    try {
      const t0 = performance.now();
      for (let i = 0; i < REQUESTS; i++) {
        const due = t0 + (i * 1000) / RATE_PER_SEC;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const res = await clients[0]!.send(ctx.app, { path, headers: ctx.tag(ctx.nextId()) });
        statuses.push(res.status ?? res.error?.kind ?? 'none');
      }
    } finally {
      await close();
    }
    const refused = statuses.filter((s) => s !== 200);
    if (refused.length > 0) return fail(expected, `${refused.length} of ${REQUESTS} refused (${[...new Set(refused)].join(', ')}) at ${RATE_PER_SEC} r/s`, { statuses });
    return pass(expected, `${REQUESTS} of ${REQUESTS} accepted at ${RATE_PER_SEC} r/s`, { statuses });
  },
};
