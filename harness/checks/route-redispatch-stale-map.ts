import { DrillProblem, fail, pass, type Check } from './check.ts';
import { answeredBy, askFor } from './node-map-support.ts';
import { nodeMap } from '../contracts/node-map.ts';

const REQUESTS = 10;

/** Seed 002: when the mapped master is down (a stale map), the request is still served by another master. */
export const routeRedispatchStaleMap: Check = {
  id: 'route.redispatch-stale-map',
  title: 'a node mapped to a master that is down is still served',
  severity: 'must',
  needs: [],
  needsPool: true,
  disruptive: true,
  async run(ctx) {
    const expected = `with the mapped master stopped, ${REQUESTS} requests for its node all succeed on another master`;
    const map = nodeMap(ctx);
    const [node, master] = Object.entries(map.entries).find(([, m]) => m !== map.default) ?? Object.entries(map.entries)[0]!;
    const victim = ctx.backends.find((b) => b.upstream.address === map.targets[master!]);
    if (!victim) throw new DrillProblem(`no backend stands for ${master} (${map.targets[master!]})`);
    await ctx.faults.apply({ type: 'stop' }, ctx.site(victim));
    const rows: string[] = [];
    for (let i = 0; i < REQUESTS; i++) rows.push(answeredBy(ctx, map, await askFor(ctx, map, node!)));
    const failed = rows.filter((r) => r.startsWith('status') || r === master);
    if (failed.length > 0) return fail(expected, `${failed.length} of ${REQUESTS} requests for ${node} (mapped to the stopped ${master}) failed: ${[...new Set(failed)].join(', ')}`, { node, master, rows });
    return pass(expected, `${node} -> ${master} (stopped): ${REQUESTS}/${REQUESTS} served by ${[...new Set(rows)].join(', ')}`, { node, master, rows });
  },
};
