import { fail, pass, type Check } from './check.ts';
import { answeredBy, askFor } from './node-map-support.ts';
import { nodeMap } from '../contracts/node-map.ts';
import { contractPool } from '../contracts/pools.ts';

/**
 * Requests without the header, in a row: a config whose map lookup never runs without the header
 * (HAProxy applies no converter, so `map(file,default)` yields nothing) falls back to its balance
 * algorithm, and round robin over two masters cannot put this many in a row on the default.
 */
const BARE_REQUESTS = 4;

/** Seed 002: a node not in the map (or no header at all) reaches the default master. */
export const routeUnknownNodeDefault: Check = {
  id: 'route.unknown-node-default',
  title: 'an unknown node name reaches the default master',
  severity: 'must',
  needs: [],
  needsPool: true,
  async run(ctx) {
    const map = nodeMap(ctx);
    const expected = `unknown nodes and requests without ${map.header} reach ${map.default}`;
    const rows: Array<{ node: string; got: string }> = [];
    for (const node of ['new-node.example.com', 'NODE-X.EXAMPLE.COM', 'x']) rows.push({ node, got: answeredBy(ctx, map, await askFor(ctx, map, node)) });
    for (let i = 0; i < BARE_REQUESTS; i++) {
      const bare = await ctx.client.send(ctx.app, { path: contractPool(ctx).probePath, headers: ctx.tag(ctx.nextId()) });
      rows.push({ node: `(no ${map.header}, #${i + 1})`, got: answeredBy(ctx, map, bare) });
    }
    const wrong = rows.filter((r) => r.got !== map.default);
    if (wrong.length > 0) return fail(expected, `${wrong[0]!.node} reached ${wrong[0]!.got}`, { rows });
    return pass(expected, `${rows.length} requests for unknown nodes reached ${map.default}`, { rows });
  },
};
