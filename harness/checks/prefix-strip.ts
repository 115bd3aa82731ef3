import type { Check } from './check.ts';
import { checkPathCases } from './path-cases.ts';
import { contractPool } from '../contracts/pools.ts';

/**
 * Percent-escapes chosen so that a proxy which decodes and re-encodes the path (nginx
 * does, when proxy_pass has a URI part) still produces the bytes the client sent:
 * %20 and %25 re-encode to themselves. An encoded slash (%2F) does not survive nginx's
 * normalisation nor Apache's AllowEncodedSlashes default; it is not part of this contract.
 */
export const prefixStrip: Check = {
  id: 'prefix.strip',
  title: "the pool's path prefix (/api) stripped: deep paths, query, percent-encoding as sent",
  severity: 'must',
  needs: ['prefix-rewrite'],
  needsPool: true,
  run: (ctx) => {
    const prefix = contractPool(ctx).pathPrefix;
    return checkPathCases(
      ctx,
      ['auth/namespaces', '', 'instances/7b3c/interfaces/eth0/metadata', 'instances?all=true&namespace=sys%20tem&q=a%2Fb', 'blobs/disk%20image%2520v2.qcow2'].map((rest) => ({ send: `${prefix}${rest}`, expect: `/${rest}` })),
    );
  },
};
