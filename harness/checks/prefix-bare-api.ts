import type { Check } from './check.ts';
import { fail, pass } from './check.ts';
import { contractPool } from '../contracts/pools.ts';

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The pool's prefix without its slash (/api) either redirects to /api/ or reaches the backend as /. */
export const prefixBareApi: Check = {
  id: 'prefix.bare-api',
  title: 'bare /api redirects to /api/ or reaches the backend as /',
  severity: 'must',
  needs: [],
  needsPool: true,
  async run(ctx) {
    const prefix = contractPool(ctx).pathPrefix;
    const bare = prefix.slice(0, -1);
    const expected = `${bare} answered with a redirect to ${prefix}, or backend path /`;
    const id = ctx.nextId();
    const res = await ctx.client.send(ctx.app, { path: bare, headers: ctx.tag(id) });
    if (res.status === undefined) return fail(expected, `no response: ${res.error?.message}`, { error: res.error });
    const location = header(res.headers.location);
    if (REDIRECT_STATUSES.has(res.status)) {
      const base = `${ctx.app.tls ? 'https' : 'http'}://${ctx.app.serverName}${bare}`;
      const target = location ? new URL(location, base) : undefined;
      const evidence = { status: res.status, location };
      if (target?.pathname === prefix) return pass(expected, `${res.status} to ${location}`, evidence);
      return fail(expected, `${res.status} to ${location ?? '(no Location)'}, which is not ${prefix}`, evidence);
    }
    const got = await ctx.waitReceived(id, 2000);
    const evidence = { status: res.status, backendPath: got?.rawPath ?? null };
    if (got && (got.rawPath === '/' || got.rawPath.startsWith('/?'))) return pass(expected, `backend path ${got.rawPath}`, evidence);
    if (got) return fail(expected, `backend path ${got.rawPath}`, evidence);
    return fail(expected, `client got ${res.status} and no backend saw the request`, evidence);
  },
};
