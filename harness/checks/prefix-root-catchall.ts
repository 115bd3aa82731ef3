import type { Check } from './check.ts';
import { checkPathCases } from './path-cases.ts';

/** Clients that omit the /api prefix still reach the API at the server root. */
export const prefixRootCatchall: Check = {
  id: 'prefix.root-catchall',
  title: 'paths without the /api prefix reach the backend unchanged',
  severity: 'should',
  needs: [],
  needsPool: true,
  run: (ctx) =>
    checkPathCases(ctx, [
      { send: '/auth/namespaces', expect: '/auth/namespaces' },
      { send: '/instances?all=true', expect: '/instances?all=true' },
    ]),
};
