import { SimulatedUsers } from '../client/simulated-user.ts';
import { formatMs } from '../duration.ts';
import { fail, pass, type Check } from './check.ts';
import { contractPool } from '../contracts/pools.ts';
import { stickyContract } from '../contracts/sticky.ts';

/**
 * Long tunnel timeouts (seeds 001 and 004): an idle WebSocket outlives the HTTP timeouts.
 * The bundled configs keep HTTP timeouts (3 s) under the quick gap (5 s), so only a
 * tunnel timeout can keep the socket alive; --thorough idles 65 s, past common defaults.
 */
export const wsIdleSurvives: Check = {
  id: 'ws.idle-survives',
  title: 'an idle WebSocket outlives the HTTP timeouts',
  severity: 'must',
  needs: ['websocket'],
  needsPool: true,
  background: true,
  async run(ctx) {
    const gap = ctx.settings.idleGapMs;
    const expected = `WebSockets on the sticky path and on /ws/ stay open through ${formatMs(gap)} of silence, then echo a message`;
    const paths = [stickyContract(ctx).wsPath, contractPool(ctx).probePath.replace(/[^/]*$/, 'idle')];
    await using users = new SimulatedUsers({ caPem: ctx.caPem, seed: ctx.seed, purpose: wsIdleSurvives.id, count: paths.length });
    const fleet = await ctx.wsFleet({ count: paths.length, localAddress: users.addressOf, pathFor: (i) => paths[i]!, backoff: { initialMs: 60_000, maxMs: 60_000 } });
    await fleet.waitAllConnected(15_000);
    ctx.progress(`${paths.length} WebSockets idle for ${formatMs(gap)}`);
    await new Promise((r) => setTimeout(r, gap));
    for (const c of fleet.clients) c.send();
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && fleet.clients.some((c) => c.counters.echoes < 1 && c.disconnects.length === 0)) await new Promise((r) => setTimeout(r, 20));
    const rows = fleet.clients.map((c, i) => ({ path: paths[i], backend: c.backend ?? null, cut: c.disconnects[0] ? { afterMs: Math.round(c.disconnects[0].connectionMs), reason: c.disconnects[0].reason } : null, echoed: c.counters.echoes > 0 }));
    const broken = rows.filter((r) => r.cut || !r.echoed);
    if (broken.length > 0) {
      const r = broken[0]!;
      return fail(expected, `${r.path}: ${r.cut ? `cut after ${formatMs(r.cut.afterMs)} of silence (${r.cut.reason})` : 'no echo after the gap'}`, { gapMs: gap, sockets: rows });
    }
    return pass(expected, `${rows.length} WebSockets (${paths.join(', ')}) survived ${formatMs(gap)} idle and echoed`, { gapMs: gap, sockets: rows });
  },
};
