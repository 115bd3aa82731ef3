import type { Check } from './check.ts';
import { fail, ownBackend, pass } from './check.ts';
import { contractPool } from '../contracts/pools.ts';

/** Requests per live backend sent before the fault, so the LB holds pooled connections to every one. */
const WARMUP_PER_BACKEND = 4;
/** Requests sent after the fault; with round robin about half would go to the dead server. */
const PROBES_AFTER_STOP = 20;

/** One server of the contract's pool is stopped (listener closed, pooled connections reset): every request to that pool still succeeds. */
export const failoverBackendDown: Check = {
  id: 'failover.backend-down',
  title: "requests keep succeeding with one of the pool's servers stopped",
  severity: 'must',
  needs: ['own-backends'],
  needsPool: true,
  disruptive: true,
  async run(ctx) {
    const pool = contractPool(ctx);
    const members = [...pool.primaries, ...pool.backups];
    const all = members.length;
    const expected = `all ${PROBES_AFTER_STOP} requests to ${pool.pathPrefix} succeed (2xx) from another server of ${pool.configName} after one of its ${all} servers stops`;
    // The pool's first primary dies; any other server of the same pool, backups included, may take over.
    const victim = pool.primaries[0];
    if (!victim || all < 2) return fail(expected, `${pool.configName}, the pool serving ${pool.probePath}, has ${all} server${all === 1 ? '' : 's'}: nothing to fail over to`);
    for (let i = 0; i < WARMUP_PER_BACKEND * all; i++) {
      await ctx.client.send(ctx.app, { path: `${pool.pathPrefix}failover/warmup/${i}`, headers: ctx.tag(ctx.nextId()) });
    }
    const pooled = ownBackend(victim).openConnections;
    await victim.backend.stop();
    const rows: Array<{ i: number; status: number | string; backend: string | null; ms: number; retriedAfter?: string }> = [];
    try {
      for (let i = 0; i < PROBES_AFTER_STOP; i++) {
        // A probe whose reused keep-alive connection the LB closes unanswered goes once more, as RFC 9112
        // §9.3.1 allows for idempotent requests and browsers do: HAProxy, finding the server connection it
        // reused dead, closes the client's that way (1 run in 20 of shakenfist-api). Error answers are never
        // retried; the evidence marks the retried rows.
        const res = await ctx.client.send(ctx.app, { path: `${pool.pathPrefix}failover/probe/${i}`, headers: ctx.tag(ctx.nextId()), timeoutMs: 15_000 }, { retryOnKeepAliveClose: true });
        const backend = res.headers['x-lbdrill-backend'];
        rows.push({ i, status: res.status ?? res.error?.kind ?? 'none', backend: typeof backend === 'string' ? backend : null, ms: Math.round(res.durationMs), ...(res.retriedAfter ? { retriedAfter: res.retriedAfter.kind } : {}) });
      }
    } finally {
      await victim.backend.start();
    }
    const inPool = new Set(members.map((b) => b.backend.id));
    // An answer from a server outside the pool (a catch-all frontend) is not this pool failing over.
    const failed = rows.filter((r) => typeof r.status !== 'number' || r.status >= 300 || r.backend === null || !inPool.has(r.backend));
    const evidence = { pool: pool.configName, stopped: victim.upstream.address, pooledConnectionsReset: pooled, requests: rows };
    if (failed.length === 0) {
      const slowest = Math.max(...rows.map((r) => r.ms));
      const retried = rows.filter((r) => r.retriedAfter !== undefined).length;
      const retriedNote = retried > 0 ? `; ${retried} sent again after the LB closed its reused connection unanswered` : '';
      return pass(expected, `${rows.length}/${rows.length} succeeded with ${victim.upstream.address} stopped (slowest ${slowest} ms${retriedNote})`, evidence);
    }
    const kinds = [...new Set(failed.map((r) => (r.backend !== null && !inPool.has(r.backend) ? `answered by ${r.backend}, not a server of ${pool.configName}` : String(r.status))))].join(', ');
    return fail(expected, `${failed.length} of ${rows.length} failed (${kinds}) with ${victim.upstream.address} stopped`, evidence);
  },
};
