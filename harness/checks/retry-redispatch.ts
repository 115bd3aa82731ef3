import { fail, ownBackend, pass, type Check } from './check.ts';
import { failoverPool, steadyProbe } from './failover-sequence.ts';

/** Requests sent right after the kill, before any health check can notice it. */
const REQUESTS = 20;

/**
 * `option redispatch` (nginx `proxy_next_upstream error`, Apache balancer failover): a
 * request whose connection to its server fails is retried on another server, also on
 * connections the LB had pooled. Sent before detection, so health checks cannot help.
 */
export const retryRedispatch: Check = {
  id: 'retry.redispatch',
  title: 'a failed connection to one server is retried on another',
  severity: 'must',
  needs: ['own-backends'],
  needsPool: true,
  disruptive: true,
  async run(ctx) {
    const expected = `all ${REQUESTS} requests sent right after a server is killed (before any health check notices) succeed on another server`;
    const { pool, victim } = failoverPool(ctx);
    await (await steadyProbe(ctx, pool)).stop();
    const pooled = ownBackend(victim).openConnections;
    await ctx.faults.apply({ type: 'stop' }, ctx.site(victim));
    const rows: Array<{ status: number | string; backend: string | null; ms: number }> = [];
    for (let i = 0; i < REQUESTS; i++) {
      const res = await ctx.client.send(ctx.app, { path: `${pool.probePath}?lbdrill-redispatch=${i}`, headers: ctx.tag(ctx.nextId()), timeoutMs: 15_000 });
      const backend = res.headers['x-lbdrill-backend'];
      rows.push({ status: res.status ?? res.error?.kind ?? 'none', backend: typeof backend === 'string' ? backend : null, ms: Math.round(res.durationMs) });
    }
    const failed = rows.filter((r) => typeof r.status !== 'number' || r.status >= 300);
    const evidence = { victim: victim.backend.id, pooledConnectionsReset: pooled, requests: rows };
    if (failed.length === 0) return pass(expected, `${REQUESTS}/${REQUESTS} succeeded with ${victim.backend.id} killed (slowest ${Math.max(...rows.map((r) => r.ms))} ms)`, evidence);
    const kinds = [...new Set(failed.map((r) => String(r.status)))].join(', ');
    return fail(expected, `${failed.length} of ${REQUESTS} failed (${kinds}): they were not retried on another server`, evidence);
  },
};
