import type { Check } from './check.ts';
import { fail, pass } from './check.ts';
import { limitsContract, type EncodedSlash } from '../contracts/limits.ts';
import { contractPool } from '../contracts/pools.ts';
import { sendPath } from './path-prefix-escape.ts';

/** How the LB treated an encoded slash in a path under a prefix. */
type SlashHandling = 'preserve' | 'decode' | 'reject' | 'other';

/** Which handlings each contract value accepts. */
const ACCEPTS: Readonly<Record<EncodedSlash, readonly SlashHandling[]>> = {
  preserve: ['preserve'],
  decode: ['decode'],
  reject: ['reject'],
  'any-safe': ['preserve', 'reject'],
};

/**
 * path.encoded-slash: `/api/a%2Fb` reaches a server of the pool as `/api/a%2Fb` (preserve) or
 * `/api/a/b` (decode), or is refused with a 4xx and reaches no backend (reject); the profile's
 * `limits.encoded_slash` says which are acceptable.
 */
export const pathEncodedSlash: Check = {
  id: 'path.encoded-slash',
  title: 'an encoded slash under the prefix is kept, decoded or refused, as the profile states',
  severity: 'must',
  needs: [],
  needsPool: true,
  async run(ctx) {
    const pool = contractPool(ctx);
    const contract = limitsContract(ctx).encodedSlash;
    const path = `${pool.pathPrefix}a%2Fb`;
    const o = await sendPath(ctx, path);
    const rest = o.received?.replace(/[?#].*$/s, '');
    const handling: SlashHandling =
      o.backend === null
        ? typeof o.status === 'number' && o.status >= 400 && o.status < 500
          ? 'reject'
          : 'other'
        : o.pool !== pool.name
          ? 'other'
          : rest?.toLowerCase().endsWith('/a%2fb')
            ? 'preserve'
            : rest?.endsWith('/a/b')
              ? 'decode'
              : 'other';
    const expected = `${path} ${ACCEPTS[contract].join(' or ')} (profile limits.encoded_slash: ${contract})`;
    const observed = o.backend === null ? `${handling}: answered ${o.status} by the LB, no backend reached` : `${handling}: reached ${o.backend} of ${o.pool ?? 'no profile pool'} as ${o.received}`;
    const evidence = { contract, handling, ...o };
    return ACCEPTS[contract].includes(handling) ? pass(expected, observed, evidence) : fail(expected, observed, evidence);
  },
};
