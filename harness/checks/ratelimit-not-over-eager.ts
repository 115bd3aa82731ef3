import type { LbClient } from '../client/lb-client.ts';
import { fail, pass, type Check, type CheckContext } from './check.ts';
import { sourceClients } from './source-clients.ts';
import { contractPool } from '../contracts/pools.ts';

// A client under every bundled limit stays inside the strictest one, HAProxy's "not more than
// 20 requests in 10 s" (nginx and the reference LB allow 10 r/s, burst 20). Two such clients,
// each from its own fresh address, probe the two corners of that envelope.

/** A burst of 20 sent at once: refused when the burst is set too small (`burst=5`, or none). */
const BURST_REQUESTS = 20;
/**
 * A steady 1.5 r/s (HAProxy's estimate stays near 15 per 10 s) for 30 requests, 19 s: it uses
 * up a 20-request burst when the sustained rate is far too low (nginx `10r/m` for `10r/s`: the
 * burst is gone after 23 requests) or when a count that never decays is taken for a rate
 * (HAProxy `sc_http_req_cnt`).
 */
const STEADY_RATE_PER_SEC = 1.5;
const STEADY_REQUESTS = 30;

type Status = number | string;

/** Seed 004: a client under the limit is never refused. */
export const ratelimitNotOverEager: Check = {
  id: 'ratelimit.not-over-eager',
  title: 'a client under the rate limit is never refused',
  severity: 'must',
  needs: ['rate-limit'],
  needsPool: true,
  async run(ctx) {
    const path = contractPool(ctx).probePath;
    const expected = `on ${path}, each from a fresh address: ${BURST_REQUESTS} requests at once, and ${STEADY_REQUESTS} requests at ${STEADY_RATE_PER_SEC} r/s: all 200`;
    // fresh addresses: the enforced check may have used up the default one's allowance
    const { clients, close } = sourceClients(ctx, 2, 90);
    let burst: Status[];
    let steady: Status[];
    try {
      [burst, steady] = await Promise.all([sendBurst(ctx, clients[0]!, path), sendSteady(ctx, clients[1]!, path)]);
    } finally {
      await close();
    }
    const evidence = { burst, steady, steadyRatePerSec: STEADY_RATE_PER_SEC };
    const burstRefused = burst.filter((s) => s !== 200);
    const steadyRefused = steady.filter((s) => s !== 200);
    if (burstRefused.length > 0) return fail(expected, `${burstRefused.length} of a burst of ${BURST_REQUESTS} refused (${[...new Set(burstRefused)].join(', ')})`, evidence);
    if (steadyRefused.length > 0) {
      const first = steady.findIndex((s) => s !== 200);
      return fail(expected, `${steadyRefused.length} of ${STEADY_REQUESTS} refused (${[...new Set(steadyRefused)].join(', ')}) at ${STEADY_RATE_PER_SEC} r/s, from request ${first + 1} on`, evidence);
    }
    return pass(expected, `a burst of ${BURST_REQUESTS}: all accepted; ${STEADY_REQUESTS} of ${STEADY_REQUESTS} accepted at ${STEADY_RATE_PER_SEC} r/s`, evidence);
  },
};

async function sendBurst(ctx: CheckContext, client: LbClient, path: string): Promise<Status[]> {
  const results = await Promise.all(Array.from({ length: BURST_REQUESTS }, () => client.send(ctx.app, { path, headers: ctx.tag(ctx.nextId()) })));
  return results.map((res) => res.status ?? res.error?.kind ?? 'none');
}

async function sendSteady(ctx: CheckContext, client: LbClient, path: string): Promise<Status[]> {
  const statuses: Status[] = [];
  const t0 = performance.now();
  for (let i = 0; i < STEADY_REQUESTS; i++) {
    const wait = t0 + (i * 1000) / STEADY_RATE_PER_SEC - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const res = await client.send(ctx.app, { path, headers: ctx.tag(ctx.nextId()) });
    statuses.push(res.status ?? res.error?.kind ?? 'none');
  }
  return statuses;
}
