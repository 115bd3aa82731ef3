import { SimulatedUsers } from '../client/simulated-user.ts';
import { formatMs } from '../duration.ts';
import { nowMs } from '../probe/probe-stream.ts';
import { budgetMs, fail, pass, type Check } from './check.ts';
import { steadyProbe, waitLbState } from './failover-sequence.ts';
import { backendOf, setCookieValue } from './sticky-support.ts';
import { stickyContract } from '../contracts/sticky.ts';

/** Requests with the dead pin, after the LB knows the server is down. */
const REQUESTS = 10;

/**
 * Seed 001: a cookie naming a server that is down is ignored; the request is balanced to
 * a live server and the answer pins the client there with a new cookie.
 */
export const stickyDeadPinRebalanced: Check = {
  id: 'sticky.dead-pin-rebalanced',
  title: 'a cookie naming a dead backend is served by a live one and gets a new cookie',
  severity: 'must',
  needs: ['sticky-cookie'],
  needsPool: true,
  disruptive: true,
  async run(ctx) {
    const detect = budgetMs(ctx, 'detect');
    const expected = `with its pinned server down, a client's ${REQUESTS} requests with the old cookie all succeed on live servers, and it is pinned again by a new cookie`;
    const { pool, cookie } = stickyContract(ctx);
    await (await steadyProbe(ctx, pool)).stop();
    await using users = new SimulatedUsers({ caPem: ctx.caPem, seed: ctx.seed, purpose: stickyDeadPinRebalanced.id, count: 1 });
    const client = users.at(0).http;
    const first = await client.send(ctx.app, { path: `${pool.probePath}?pin=1`, headers: ctx.tag(ctx.nextId()) }, { fresh: true });
    const pin = setCookieValue(first, cookie);
    const pinned = pool.primaries.find((b) => b.backend.id === backendOf(first));
    if (pin === undefined || !pinned) return fail(expected, `the first response set no ${cookie} (or named no backend)`, { headers: first.headers });
    const faultAtMs = nowMs();
    await ctx.faults.apply({ type: 'stop' }, ctx.site(pinned));
    const downAfter = await waitLbState(ctx, pool, pinned, 'down', faultAtMs, detect * 3);
    if (!ctx.runtime) await new Promise((r) => setTimeout(r, detect));
    const rows: Array<{ status: number | string; backend: string | null; newCookie: string | null }> = [];
    let current = pin;
    for (let i = 0; i < REQUESTS; i++) {
      const res = await client.send(ctx.app, { path: `${pool.probePath}?pin=${i}`, headers: ctx.tag(ctx.nextId(), { cookie: `${cookie}=${current}` }), timeoutMs: 10_000 });
      const renewed = setCookieValue(res, cookie);
      rows.push({ status: res.status ?? res.error?.kind ?? 'none', backend: backendOf(res), newCookie: renewed ?? null });
      if (renewed !== undefined) current = renewed;
    }
    const evidence = { cookie, deadPin: pin, pinnedBackend: pinned.backend.id, lbDownAfterMs: downAfter === undefined ? null : Math.round(downAfter), requests: rows };
    const failed = rows.filter((r) => r.status !== 200);
    if (failed.length > 0) return fail(expected, `${failed.length} of ${REQUESTS} requests with the dead pin failed (${[...new Set(failed.map((r) => r.status))].join(', ')})`, evidence);
    if (rows.some((r) => r.backend === pinned.backend.id)) return fail(expected, `a request was answered by the stopped ${pinned.backend.id}`, evidence);
    const renewedAt = rows.findIndex((r) => r.newCookie !== null);
    if (renewedAt < 0) return fail(expected, `no new ${cookie} was issued: the client stays pinned to the dead ${pinned.backend.id}`, evidence);
    const after = rows.slice(renewedAt + 1).map((r) => r.backend);
    if (new Set(after).size > 1) return fail(expected, `after the new cookie the client still moved between ${[...new Set(after)].join(', ')}`, evidence);
    const down = downAfter === undefined ? '' : ` (${ctx.runtime?.title} reported it DOWN after ${formatMs(downAfter)})`;
    return pass(expected, `the dead pin to ${pinned.backend.id}${down} was re-balanced to ${rows[renewedAt]!.backend} with a new cookie on request ${renewedAt + 1}; all ${REQUESTS} succeeded`, evidence);
  },
};
