import type { Check } from './check.ts';
import { checkPathCases } from './path-cases.ts';

/** The OpenAPI doc paths live at the server root and must reach the backend unchanged. */
export const prefixDocsPassthrough: Check = {
  id: 'prefix.docs-passthrough',
  title: 'doc paths (/apidocs, /flasgger_static, /apispec_1.json) passed through unchanged',
  severity: 'must',
  needs: [],
  needsPool: true,
  run: (ctx) =>
    checkPathCases(ctx, [
      { send: '/apidocs', expect: '/apidocs' },
      { send: '/apidocs/', expect: '/apidocs/' },
      { send: '/apidocs/index.html?url=/apispec_1.json', expect: '/apidocs/index.html?url=/apispec_1.json' },
      { send: '/flasgger_static/swagger-ui-bundle.js', expect: '/flasgger_static/swagger-ui-bundle.js' },
      { send: '/flasgger_static/lib/jquery.min.js', expect: '/flasgger_static/lib/jquery.min.js' },
      { send: '/apispec_1.json', expect: '/apispec_1.json' },
    ]),
};
