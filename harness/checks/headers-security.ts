import { fail, pass, type Check } from './check.ts';
import { contractPool } from '../contracts/pools.ts';

/** Seed 004's security response headers, lowercase name -> what the value must contain. */
const REQUIRED: Record<string, RegExp> = {
  'x-frame-options': /^(DENY|SAMEORIGIN)$/i,
  'x-content-type-options': /^nosniff$/i,
  'x-xss-protection': /^1;\s*mode=block$/i,
  'strict-transport-security': /max-age=\d+/i,
};

/** Seed 004: every response carries the four security headers. */
export const headersSecurity: Check = {
  id: 'headers.security',
  title: 'responses carry the security headers (X-Frame-Options, X-Content-Type-Options, X-XSS-Protection, HSTS)',
  severity: 'must',
  needs: [],
  needsPool: true,
  async run(ctx) {
    const expected = `${Object.keys(REQUIRED).join(', ')} on responses of the application`;
    const api = contractPool(ctx).probePath;
    const rows: Array<{ path: string; status: number | string; missing: string[] }> = [];
    for (const path of [api, `${api.replace(/[^/]*$/, '')}items?page=2`]) {
      const res = await ctx.client.send(ctx.app, { path, headers: ctx.tag(ctx.nextId()) });
      const missing = Object.entries(REQUIRED)
        .filter(([name, re]) => {
          const v = res.headers[name];
          return typeof v !== 'string' || !re.test(v.trim());
        })
        .map(([name]) => `${name}: ${JSON.stringify(res.headers[name] ?? null)}`);
      rows.push({ path, status: res.status ?? res.error?.kind ?? 'none', missing });
    }
    const bad = rows.filter((r) => r.missing.length > 0);
    if (bad.length > 0) return fail(expected, `${bad[0]!.path} (${bad[0]!.status}) lacks ${bad[0]!.missing.join('; ')}`, { rows });
    return pass(expected, `all four on ${rows.map((r) => `${r.path} (${r.status})`).join(', ')}`, { rows });
  },
};
