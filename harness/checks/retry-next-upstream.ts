import { DrillProblem, fail, ownBackend, pass, type Check } from './check.ts';
import { sourceClients } from './source-clients.ts';
import { contractPool } from '../contracts/pools.ts';

const REQUESTS = 30;

/** Seed 004 (`proxy_next_upstream ... http_502 http_503`): an idempotent request answered 502/503 by one backend is retried on another. */
export const retryNextUpstream: Check = {
  id: 'retry.next-upstream',
  title: 'a 502/503 from one backend is retried on another for idempotent requests',
  severity: 'must',
  needs: ['own-backends'],
  needsPool: true,
  disruptive: true,
  async run(ctx) {
    const pool = contractPool(ctx);
    const expected = `with one primary answering every request 503, all ${REQUESTS} GETs succeed from the others`;
    if (!pool || pool.primaries.length < 2) throw new DrillProblem('needs a pool with at least 2 primaries');
    const victim = pool.primaries[0]!;
    await ctx.faults.apply({ type: 'errors', attributes: { rate: 1, status: 503 } }, ctx.site(victim));
    const { clients, close } = sourceClients(ctx, 10, 160);
    const rows: Array<{ status: number | string; backend: string | null }> = [];
    try {
      for (let i = 0; i < REQUESTS; i++) {
        const res = await clients[i % 10]!.send(ctx.app, { path: `${pool.probePath}?retry=${i}`, headers: ctx.tag(ctx.nextId()) });
        const b = res.headers['x-lbdrill-backend'];
        rows.push({ status: res.status ?? res.error?.kind ?? 'none', backend: typeof b === 'string' ? b : null });
      }
    } finally {
      await close();
    }
    const tried = ownBackend(victim).requests.filter((r) => !r.health && r.injectedStatus !== undefined).length;
    const failed = rows.filter((r) => r.status !== 200);
    const evidence = { victim: victim.backend.id, requests: rows, answeredWith503ByVictim: tried };
    if (failed.length > 0) return fail(expected, `${failed.length} of ${REQUESTS} reached the client as ${[...new Set(failed.map((r) => r.status))].join(', ')}`, evidence);
    return pass(expected, `${REQUESTS}/${REQUESTS} succeeded; ${victim.backend.id} answered ${tried} of them with 503 first and they were retried`, evidence);
  },
};
