import type { Check } from './check.ts';
import { fail, pass } from './check.ts';

/** Requests per live backend sent before the fault, so the LB holds pooled connections to every one. */
const WARMUP_PER_BACKEND = 4;
/** Requests sent after the fault; with round robin about half would go to the dead server. */
const PROBES_AFTER_STOP = 20;

/** One backend is stopped (listener closed, pooled connections reset): every request still succeeds. */
export const failoverBackendDown: Check = {
  id: 'failover.backend-down',
  title: 'requests keep succeeding with one backend stopped',
  severity: 'must',
  needs: [],
  disruptive: true,
  async run(ctx) {
    const primaries = ctx.backends.filter((b) => !b.upstream.backup);
    const all = ctx.backends.length;
    const expected = `all ${PROBES_AFTER_STOP} requests succeed (2xx) after one of ${all} upstream servers stops`;
    // The first primary dies; any other server, backups included, may take over.
    const victim = primaries[0];
    if (!victim || all < 2) return fail(expected, `needs at least 2 upstream servers, the config has ${all}`);
    for (let i = 0; i < WARMUP_PER_BACKEND * all; i++) {
      await ctx.client.send(ctx.app, { path: `/api/failover/warmup/${i}`, headers: ctx.tag(ctx.nextId()) });
    }
    const pooled = victim.backend.openConnections;
    await victim.backend.stop();
    const rows: Array<{ i: number; status: number | string; backend: string | null; ms: number }> = [];
    try {
      for (let i = 0; i < PROBES_AFTER_STOP; i++) {
        const res = await ctx.client.send(ctx.app, { path: `/api/failover/probe/${i}`, headers: ctx.tag(ctx.nextId()), timeoutMs: 15_000 });
        const backend = res.headers['x-lbdrill-backend'];
        rows.push({ i, status: res.status ?? res.error?.kind ?? 'none', backend: typeof backend === 'string' ? backend : null, ms: Math.round(res.durationMs) });
      }
    } finally {
      await victim.backend.start();
    }
    const failed = rows.filter((r) => typeof r.status !== 'number' || r.status >= 300);
    const evidence = { stopped: victim.upstream.address, pooledConnectionsReset: pooled, requests: rows };
    if (failed.length === 0) {
      const slowest = Math.max(...rows.map((r) => r.ms));
      return pass(expected, `${rows.length}/${rows.length} succeeded with ${victim.upstream.address} stopped (slowest ${slowest} ms)`, evidence);
    }
    const kinds = [...new Set(failed.map((r) => String(r.status)))].join(', ');
    return fail(expected, `${failed.length} of ${rows.length} failed (${kinds}) with ${victim.upstream.address} stopped`, evidence);
  },
};
