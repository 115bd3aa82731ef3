import { fail, pass, type Check } from './check.ts';
import { basicAuth } from './auth-support.ts';
import { someAuthUser } from '../contracts/auth.ts';
import { contractPool } from '../contracts/pools.ts';

/** How long a refused request is given to (wrongly) show up at a backend. */
const LEAK_WAIT_MS = 500;

/** Seed 003: without valid credentials the LB answers 401 itself; no backend ever sees the request. */
export const authBasicRequired: Check = {
  id: 'auth.basic-required',
  title: 'no or wrong credentials get a 401 and reach no backend',
  severity: 'must',
  needs: [],
  needsPool: true,
  async run(ctx) {
    const expected = '401 with WWW-Authenticate: Basic for no credentials, a wrong password, an unknown user and a malformed header; none reaches a backend; valid credentials get 200';
    const pool = contractPool(ctx);
    const someone = someAuthUser(ctx, pool);
    const attempts: Array<{ name: string; authorization?: string }> = [
      { name: 'no credentials' },
      { name: 'wrong password', authorization: basicAuth(someone.user, `${someone.password}x`) },
      { name: 'unknown user', authorization: basicAuth('mallory', 'letmein') },
      { name: 'malformed header', authorization: 'Basic not-base64!!' },
      { name: 'empty password', authorization: basicAuth(someone.user, '') },
    ];
    const rows: Array<{ name: string; status: number | string; challenge: string | null; reachedBackend: string | null }> = [];
    for (const a of attempts) {
      const id = ctx.nextId();
      const res = await ctx.client.send(ctx.app, { path: `${pool.pathPrefix}dashboard`, headers: ctx.tag(id, a.authorization ? { authorization: a.authorization } : {}) });
      const leaked = await ctx.waitReceived(id, LEAK_WAIT_MS);
      const challenge = res.headers['www-authenticate'];
      rows.push({ name: a.name, status: res.status ?? res.error?.kind ?? 'none', challenge: typeof challenge === 'string' ? challenge : null, reachedBackend: leaked?.backend ?? null });
    }
    const okRes = await ctx.client.send(ctx.app, { path: `${pool.pathPrefix}dashboard`, headers: ctx.tag(ctx.nextId(), { authorization: basicAuth(someone.user, someone.password) }) });
    const evidence = { rows, validCredentials: okRes.status ?? okRes.error?.kind };
    const leaked = rows.filter((r) => r.reachedBackend !== null);
    if (leaked.length > 0) return fail(expected, `${leaked[0]!.name}: the request reached backend ${leaked[0]!.reachedBackend} (${leaked[0]!.status})`, evidence);
    const not401 = rows.filter((r) => r.status !== 401 || !/^basic/i.test(r.challenge ?? ''));
    if (not401.length > 0) return fail(expected, `${not401[0]!.name}: ${not401[0]!.status}${not401[0]!.challenge ? '' : ' without a Basic challenge'}`, evidence);
    if (okRes.status !== 200) return fail(expected, `valid credentials of ${someone.user} got ${okRes.status ?? okRes.error?.kind}`, evidence);
    return pass(expected, `${rows.length} bad attempts: 401 + Basic challenge, none reached a backend; ${someone.user} with the right password: 200`, evidence);
  },
};
