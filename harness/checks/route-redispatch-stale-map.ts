import { DrillProblem, fail, pass, type BackendBinding, type Check, type CheckContext } from './check.ts';
import { answeredBy, askFor, serverAt } from './node-map-support.ts';
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
    const { victim, chosen } = await masterOf(ctx, node!, master!);
    // answeredBy names a server by its map value where the profile's address is the config's, else by its id
    const stopped = chosen === 'profile' ? master! : victim.backend.id;
    await ctx.faults.apply({ type: 'stop' }, ctx.site(victim));
    const rows: string[] = [];
    for (let i = 0; i < REQUESTS; i++) rows.push(answeredBy(ctx, map, await askFor(ctx, map, node!)));
    const failed = rows.filter((r) => r.startsWith('status') || r === stopped);
    const evidence = { node, master, victim: victim.backend.id, victimChosen: chosen === 'profile' ? `the profile's address of ${master}, ${map.targets[master!]}` : `the server that answered ${node} before the fault (no server of the config is at ${master}'s ${map.targets[master!]})`, rows };
    if (failed.length > 0) return fail(expected, `${failed.length} of ${REQUESTS} requests for ${node} (its master ${stopped} stopped) failed: ${[...new Set(failed)].join(', ')}`, evidence);
    return pass(expected, `${node} -> ${stopped} (stopped): ${REQUESTS}/${REQUESTS} served by ${[...new Set(rows)].join(', ')}`, evidence);
  },
};

/**
 * The server to stop for a stale entry: the one at the address the profile gives the entry's master,
 * where the config has it; else the server that serves the node now (a config without the map, or
 * with other addresses: its own route for the node is what goes stale).
 */
async function masterOf(ctx: CheckContext, node: string, master: string): Promise<{ victim: BackendBinding; chosen: 'profile' | 'traffic' }> {
  const map = nodeMap(ctx);
  const atProfileAddress = serverAt(ctx, map, master);
  if (atProfileAddress) return { victim: atProfileAddress, chosen: 'profile' };
  const res = await askFor(ctx, map, node);
  const serving = ctx.backends.find((b) => b.backend.id === res.headers['x-lbdrill-backend']);
  if (!serving) throw new DrillProblem(`no server of the config is at ${master}'s ${map.targets[master]}, and a request for ${node} reached none (${res.status ?? res.error?.kind})`);
  return { victim: serving, chosen: 'traffic' };
}
