import { fail, pass, type Check } from './check.ts';

/** How long the /health request is given to (wrongly) show up at a backend. */
const LEAK_WAIT_MS = 500;

/** Seed 004: the LB answers /health itself; no backend sees it. */
export const healthLbLocal: Check = {
  id: 'health.lb-local',
  title: '/health is answered by the LB itself, reaching no backend',
  severity: 'must',
  needs: [],
  async run(ctx) {
    const expected = 'GET /health: 200 from the LB, no backend receives it';
    const rows: Array<{ status: number | string; body: string; reachedBackend: string | null }> = [];
    for (let i = 0; i < 5; i++) {
      const id = ctx.nextId();
      const res = await ctx.client.send(ctx.app, { path: '/health', headers: ctx.tag(id) });
      const leaked = await ctx.waitReceived(id, LEAK_WAIT_MS);
      rows.push({ status: res.status ?? res.error?.kind ?? 'none', body: res.text.slice(0, 40), reachedBackend: leaked?.backend ?? null });
    }
    const leaked = rows.find((r) => r.reachedBackend);
    if (leaked) return fail(expected, `/health reached backend ${leaked.reachedBackend} (${leaked.status})`, { rows });
    const bad = rows.find((r) => r.status !== 200);
    if (bad) return fail(expected, `/health answered ${bad.status}`, { rows });
    return pass(expected, `5 x 200 ${JSON.stringify(rows[0]!.body.trim())} from the LB, no backend saw them`, { rows });
  },
};
