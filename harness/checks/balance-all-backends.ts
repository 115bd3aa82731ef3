import type { Check } from './check.ts';
import { fail, pass } from './check.ts';
import { contractPool } from '../contracts/pools.ts';

/** Requests per backend: enough that round robin, random or least-connections reach every one. */
const REQUESTS_PER_BACKEND = 10;

/** Every primary server of the contract's pool receives traffic. */
export const balanceAllBackends: Check = {
  id: 'balance.all-backends',
  title: "requests are spread over every server of the pool",
  severity: 'must',
  needs: [],
  needsPool: true,
  async run(ctx) {
    const pool = contractPool(ctx);
    const primaries = pool.primaries;
    const total = Math.max(20, primaries.length * REQUESTS_PER_BACKEND);
    const counts = new Map(primaries.map((b) => [b.backend.id, 0]));
    let failures = 0;
    for (let i = 0; i < total; i++) {
      const id = ctx.nextId();
      const res = await ctx.client.send(ctx.app, { path: `${pool.pathPrefix}balance/${i}`, headers: ctx.tag(id) });
      const backend = res.headers['x-lbdrill-backend'];
      if (typeof backend === 'string' && counts.has(backend)) counts.set(backend, (counts.get(backend) ?? 0) + 1);
      else failures++;
    }
    const perBackend = Object.fromEntries(counts);
    const expected = `each of the ${primaries.length} primaries of ${pool.configName} answers some of ${total} requests to ${pool.pathPrefix}`;
    const idle = [...counts].filter(([, n]) => n === 0).map(([name]) => name);
    const observed = primaries.map((b) => `${b.upstream.address}=${counts.get(b.backend.id)}`).join(', ');
    const evidence = { requests: total, perBackend, unanswered: failures };
    if (idle.length === 0 && failures === 0) return pass(expected, observed, evidence);
    if (idle.length > 0) {
      const names = primaries.filter((b) => idle.includes(b.backend.id)).map((b) => b.upstream.address);
      return fail(expected, `no traffic reached ${names.join(', ')} (${observed})`, evidence);
    }
    return fail(expected, `${failures} of ${total} requests got no backend answer (${observed})`, evidence);
  },
};
