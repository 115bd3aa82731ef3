import { DrillProblem, fail, pass, type Check } from './check.ts';
import { countAnswers, sourceClients } from './source-clients.ts';
import { contractPool } from '../contracts/pools.ts';

const REQUESTS = 300;
const SOURCES = 60;
const CONCURRENCY = 16;
/** The slow server holds every answer this long; the others answer at once. */
const SLOW_MS = 200;
/** A least-connections balancer gives the slow server at most this fraction of its weighted share. */
const MAX_FRACTION_OF_SHARE = 0.5;

/** Seed 004 (`least_conn` / `balance leastconn`): a slow backend, holding its connections longer, gets fewer requests. */
export const balanceLeastconn: Check = {
  id: 'balance.leastconn',
  title: 'a slow backend gets fewer requests (least connections)',
  severity: 'must',
  needs: ['own-backends'],
  needsPool: true,
  async run(ctx) {
    const pool = contractPool(ctx);
    const weights = ctx.weights ?? {};
    const expected = `${REQUESTS} requests, ${CONCURRENCY} in flight, one primary ${SLOW_MS} ms slower: it gets under ${MAX_FRACTION_OF_SHARE * 100}% of its weighted share`;
    if (!pool || pool.primaries.length < 2) throw new DrillProblem('needs a pool with at least 2 primaries');
    const slow = pool.primaries[0]!;
    const total = pool.primaries.reduce((a, b) => a + (weights[b.upstream.address] ?? 1), 0);
    const share = (weights[slow.upstream.address] ?? 1) / total;
    await ctx.faults.apply({ type: 'slow', attributes: { delayMs: SLOW_MS, healthToo: false } }, ctx.site(slow));
    const { clients, close } = sourceClients(ctx, SOURCES, 130);
    let counts: Record<string, number>;
    try {
      ({ counts } = await countAnswers(ctx, clients, { requests: REQUESTS, concurrency: CONCURRENCY, path: (i) => `${pool.probePath}?lc=${i}` }));
    } finally {
      await close();
    }
    const got = (counts[slow.backend.id] ?? 0) / REQUESTS;
    const evidence = { slow: slow.backend.id, slowMs: SLOW_MS, weightedShare: Math.round(share * 1000) / 1000, share: Math.round(got * 1000) / 1000, counts };
    const observed = `slow ${slow.backend.id} got ${(got * 100).toFixed(1)}% (weighted share ${(share * 100).toFixed(1)}%)`;
    return got <= share * MAX_FRACTION_OF_SHARE ? pass(expected, observed, evidence) : fail(expected, `${observed}: not least-connections`, evidence);
  },
};
