import { SimulatedUsers } from '../client/simulated-user.ts';
import { formatMs } from '../duration.ts';
import { nowMs } from '../probe/probe-stream.ts';
import { budgetMs, fail, pass, type Check } from './check.ts';
import { steadyProbe, waitLbState } from './failover-sequence.ts';
import { backendOf, setCookieValue } from './sticky-support.ts';
import { stickyContract } from '../contracts/sticky.ts';

/** WebSocket clients attached when the pinned server goes down ("hundreds"). */
const CLIENTS = 200;
/** Reconnected clients re-checked over HTTP with their new cookie. */
const STICKY_SAMPLE = 20;

/**
 * Seed 001, "Failover behaviour": the server most clients are pinned to fails its health
 * checks (alive, so only the LB can cut its sessions); `on-marked-down shutdown-sessions`
 * cuts every WebSocket on it; the clients reconnect with a cookie naming a server that is
 * down; the LB ignores the dead pin, balances them to live servers and pins them again.
 */
export const stickyWsReconnectAfterFailover: Check = {
  id: 'sticky.ws-reconnect-after-failover',
  title: 'WebSocket clients of a failed server are cut, reconnect to live servers and are pinned again',
  severity: 'must',
  needs: ['websocket', 'sticky-cookie', 'active-health-checks', 'shutdown-sessions', 'own-backends'],
  needsPool: true,
  disruptive: true,
  async run(ctx) {
    const budget = budgetMs(ctx, 'reconnect');
    const expected = `of ${CLIENTS} WebSocket clients, all on the failed server are cut and back on a live server, pinned by a new cookie, within ${formatMs(budget)} (${ctx.failover.budgetSources['reconnect'] ?? 'default'}); the others are not cut`;
    const { pool, cookie, wsPath } = stickyContract(ctx);
    // every primary back in rotation first (an earlier check may have stopped one)
    await (await steadyProbe(ctx, pool)).stop();
    // each WebSocket client is a user: the HTTP re-check below comes from its address
    await using users = new SimulatedUsers({ caPem: ctx.caPem, seed: ctx.seed, purpose: stickyWsReconnectAfterFailover.id, count: CLIENTS });
    const fleet = await ctx.wsFleet({ count: CLIENTS, localAddress: users.addressOf, pathFor: () => wsPath, pushMs: 500, sendEveryMs: 1000, backoff: { initialMs: 50, maxMs: 1000 } });
    ctx.progress(`${CLIENTS} WebSocket clients connecting`);
    await fleet.waitAllConnected(30_000);
    const unpinned = fleet.clients.filter((c) => c.cookies.get(cookie) === undefined).length;
    if (unpinned > 0) return fail(expected, `${unpinned} of ${CLIENTS} WebSocket clients got no ${cookie} with their upgrade`, { stats: fleet.stats() });
    const before = fleet.stats().perBackend;
    const victim = [...pool.primaries].sort((a, b) => (before[b.backend.id] ?? 0) - (before[a.backend.id] ?? 0))[0]!;
    const cut = fleet.clients.filter((c) => c.backend === victim.backend.id);
    const others = fleet.clients.filter((c) => c.backend !== victim.backend.id);
    const faultAtMs = nowMs();
    await ctx.faults.apply({ type: 'health_fail' }, ctx.site(victim));
    ctx.progress(`${victim.backend.id} fails its health checks; ${cut.length} clients on it`);
    const downAfter = await waitLbState(ctx, pool, victim, 'down', faultAtMs, budget);
    let reconnectedAll = true;
    try {
      await fleet.waitAllReconnectedSince(faultAtMs, Math.max(1, faultAtMs + budget - nowMs()), { clients: cut });
    } catch {
      reconnectedAll = false;
    }
    const stats = fleet.stats();
    const records = cut.map((c) => c.disconnects.find((d) => d.atMs >= faultAtMs));
    const notCut = records.filter((d) => d === undefined).length;
    const notBack = records.filter((d) => d !== undefined && d.reconnectedAtMs === undefined).length;
    const onVictim = cut.filter((c) => c.backend === victim.backend.id && c.disconnects.some((d) => d.atMs >= faultAtMs)).length;
    const othersCut = others.filter((c) => c.disconnects.some((d) => d.atMs >= faultAtMs)).length;
    // sticky again: the new cookie leads plain HTTP to the backend the WebSocket is on
    const sample = cut.filter((c) => c.backend !== undefined && c.backend !== victim.backend.id).slice(0, STICKY_SAMPLE);
    const notSticky: string[] = [];
    for (const c of sample) {
      const value = c.cookies.get(cookie);
      const res = await users.at(c.index).http.send(ctx.app, { path: `${pool.probePath}?repin=${c.index}`, headers: ctx.tag(ctx.nextId(), { cookie: `${cookie}=${value}` }) });
      if (backendOf(res) !== c.backend || setCookieValue(res, cookie) !== undefined) notSticky.push(`client ${c.index}: WebSocket on ${c.backend}, HTTP with its cookie on ${backendOf(res)}`);
    }
    const times = records.flatMap((d) => (d?.reconnectMs === undefined ? [] : [d.reconnectMs]));
    const evidence = {
      victim: victim.backend.id,
      clientsBefore: before,
      clientsAfter: stats.perBackend,
      cut: cut.length,
      lbDownAfterMs: downAfter === undefined ? null : Math.round(downAfter),
      reconnectMs: stats.reconnectMs ?? null,
      slowestReconnectMs: times.length ? Math.round(Math.max(...times)) : null,
      messages: stats.messages,
      disconnectsByReason: stats.disconnectsByReason,
      failuresByReason: stats.failuresByReason,
      notSticky,
      budgetMs: budget,
    };
    const summary = `${cut.length} of ${CLIENTS} clients were on ${victim.backend.id}; reconnect p50 ${formatMs(stats.reconnectMs?.p50Ms ?? 0)}, p95 ${formatMs(stats.reconnectMs?.p95Ms ?? 0)}, max ${formatMs(stats.reconnectMs?.maxMs ?? 0)}; ${stats.messages.lost} messages lost`;
    const problems: string[] = [];
    if (notCut > 0) problems.push(`${notCut} of ${cut.length} clients on the failed server were never cut`);
    if (notBack > 0 || (!reconnectedAll && notCut === 0)) problems.push(`${notBack} cut clients were not back within ${formatMs(budget)}`);
    if (onVictim > 0) problems.push(`${onVictim} clients reconnected to the failed server`);
    if (othersCut > 0) problems.push(`${othersCut} clients on healthy servers were cut too`);
    if (notSticky.length > 0) problems.push(`${notSticky.length} of ${sample.length} reconnected clients were not pinned again (${notSticky[0]})`);
    if (problems.length > 0) return fail(expected, `${problems.join('; ')} (${summary})`, evidence);
    return pass(expected, `${summary}; all cut, back on live servers and re-pinned by their new cookie (${sample.length} checked over HTTP)`, evidence);
  },
};
