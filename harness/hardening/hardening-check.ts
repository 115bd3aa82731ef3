import type { Check } from '../checks/check.ts';
import { fail, ownBackend, pass } from '../checks/check.ts';
import { contractPool } from '../contracts/pools.ts';
import { runVector, type VectorResult } from './run-vector.ts';
import { vectorsOf, type HardeningCheckId } from './vectors.ts';

/**
 * A check of profile http-hardening: sends each of its vectors (vectors.ts) one at a time and
 * fails naming every vector that got through. The per-vector results are the evidence.
 */
export function hardeningCheck(id: HardeningCheckId, title: string): Check {
  return {
    id,
    title,
    severity: 'must',
    needs: ['own-backends'],
    needsPool: true,
    async run(ctx) {
      const vectors = vectorsOf(id);
      const backends = ctx.backends.map(ownBackend);
      const expected = `each of ${vectors.length} vectors (${vectors.map((v) => v.id).join(', ')}) rejected, or forwarded as exactly one unambiguous request, and nothing smuggled`;
      const target = {
        endpoint: { host: ctx.app.host, port: ctx.app.port, tls: ctx.app.tls, serverName: ctx.app.serverName, ca: ctx.caPem },
        backends,
        prefix: contractPool(ctx).pathPrefix,
        nextId: () => ctx.nextId(),
      };
      const results: VectorResult[] = [];
      for (const b of backends) b.recordRawBytes(true);
      try {
        for (const vector of vectors) {
          ctx.progress(`vector ${vector.id}`);
          results.push(await runVector(target, vector, ctx.app.serverName));
        }
      } finally {
        for (const b of backends) b.recordRawBytes(false);
      }
      const failed = results.filter((r) => r.verdict === 'fail');
      const evidence = { vectors: results };
      if (failed.length === 0) {
        const rejected = results.filter((r) => r.reachedBackend === null).length;
        return pass(expected, `${rejected} rejected, ${results.length - rejected} forwarded as one clean request`, evidence);
      }
      const observed = failed.map((r) => `${r.vector}: ${r.reason}${r.reachedBackend ? ` (backend got "${r.reachedBackend}")` : ''} [${r.rfc}]`).join(' | ');
      return fail(expected, observed, evidence);
    },
  };
}
