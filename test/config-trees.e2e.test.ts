import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runLbdrill } from './run-lbdrill.ts';

/*
 * Configs as operators ship them, through the CLI a user runs: a whole /etc/nginx, a whole
 * /etc/apache2, an httpd-image layout, and a HAProxy config in a conf.d directory with a production
 * maxconn. Each is read, rendered, accepted by its proxy and run (exit 0 or 1, never 2), and the
 * report lists the changes made in the included files with their file and line.
 */
const TREES = join(ROOT, 'fixtures', 'trees');

describe('config trees through lbdrill run', () => {
  for (const [target, path, upstreamFile, verdict] of [
    ['nginx', 'nginx-debian/nginx.conf', 'nginx-debian/conf.d/upstreams.conf', 'pass'],
    ['apache', 'apache-debian/apache2.conf', 'apache-debian/sites-enabled/api.example.com.conf', 'pass'],
    ['apache', 'apache-httpd-image/conf/httpd.conf', 'apache-httpd-image/conf/sites/api.conf', 'pass'],
    ['haproxy', 'haproxy-split', 'haproxy-split/20-api.cfg', 'pass'],
  ] as const) {
    it(`${target}=${path} runs, its upstreams found in ${upstreamFile}`, async () => {
      const run = await runLbdrill(['run', '--profile', 'shakenfist-api', '--target', `${target}=${join(TREES, path)}`, '--only', 'balance.all-backends']);
      expect(run.code, run.stderr).toBe(verdict === 'pass' ? 0 : 1);
      const mapped = run.report?.targets[0]?.mapped ?? [];
      const upstreams = mapped.filter((m) => m.kind === 'upstream');
      expect(upstreams.length).toBe(2);
      for (const m of upstreams) expect(m.file).toBe(join(TREES, upstreamFile));
      expect(run.report?.results[0]?.status).toBe(verdict);
    }, 120_000);
  }
});
