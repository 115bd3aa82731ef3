import type { Check } from './check.ts';
import { fail, pass } from './check.ts';

/** Paths vulnerability scanners request on every public host. */
const SCANNER_PATHS = [
  '/wp-login.php',
  '/xmlrpc.php',
  '/wp-admin/setup-config.php?step=1',
  '/phpmyadmin/index.php',
  '/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php',
  '/Admin/Config.PHP',
];

/** Requests for *.php never reach a backend (dropped, denied or not routed). */
export const scannerPhpDropped: Check = {
  id: 'scanner.php-dropped',
  title: '*.php scanner requests never reach a backend',
  severity: 'must',
  needs: ['deny-pattern'],
  needsPool: true,
  async run(ctx) {
    const expected = `none of ${SCANNER_PATHS.length} *.php scanner requests reaches a backend`;
    const rows: Array<{ path: string; answer: string | number; reachedBackend: string | null }> = [];
    for (const path of SCANNER_PATHS) {
      const id = ctx.nextId();
      // A fresh connection each: a dropped request closes the connection it came on.
      const res = await ctx.client.send(ctx.app, { path, headers: ctx.tag(id) }, { fresh: true });
      // The backend records a request when its headers arrive, before it answers, so by
      // the time the client has any outcome the record exists if the request got through.
      const got = ctx.received(id);
      rows.push({ path, answer: res.status ?? res.error?.kind ?? 'none', reachedBackend: got?.backend ?? null });
    }
    const leaked = rows.filter((r) => r.reachedBackend !== null);
    const answers = [...new Set(rows.map((r) => String(r.answer)))].join(', ');
    if (leaked.length === 0) return pass(expected, `none reached a backend (client saw: ${answers})`, { requests: rows });
    return fail(expected, `${leaked.map((r) => r.path).join(', ')} reached a backend`, { requests: rows });
  },
};
