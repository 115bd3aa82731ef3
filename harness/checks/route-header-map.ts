import { fail, pass, type Check } from './check.ts';
import { answeredBy, askFor } from './node-map-support.ts';
import { nodeMap } from '../contracts/node-map.ts';

const REQUESTS_PER_NODE = 5;

/** Seed 002: each node name in the header reaches the master its map entry names. */
export const routeHeaderMap: Check = {
  id: 'route.header-map',
  title: 'each node name reaches its mapped master',
  severity: 'must',
  needs: [],
  needsPool: true,
  async run(ctx) {
    const map = nodeMap(ctx);
    const expected = `${Object.keys(map.entries).length} nodes x ${REQUESTS_PER_NODE} requests with ${map.header}: each reaches its mapped master`;
    const rows = [];
    for (const [node, master] of Object.entries(map.entries)) {
      const got: string[] = [];
      for (let i = 0; i < REQUESTS_PER_NODE; i++) got.push(answeredBy(ctx, map, await askFor(ctx, map, node)));
      rows.push({ node, want: master, got });
    }
    const wrong = rows.filter((r) => r.got.some((g) => g !== r.want));
    if (wrong.length > 0) return fail(expected, `${wrong[0]!.node} reached ${[...new Set(wrong[0]!.got)].join(', ')} instead of ${wrong[0]!.want}`, { rows });
    return pass(expected, rows.map((r) => `${r.node} -> ${r.want}`).join(', '), { rows });
  },
};
