import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { brokenConfigs, expectCells, ROOT, runLbdrill } from './run-lbdrill.ts';
import { expectReportHtmlWorks } from './report-html-browser.ts';

describe('profile node-map-gateway (seed 002), bundled configs', () => {
  it('routes by the header map, updates it at run time, defaults unknown nodes, survives a stale map and bounds the queues', async () => {
    const run = await runLbdrill(['run', '--profile', 'node-map-gateway', '--target', 'reference', '--target', 'haproxy', '--target', 'nginx', '--target', 'apache']);
    expect(run.report, run.stderr).toBeDefined();
    await expectReportHtmlWorks(run.reportDir, 'node-map-gateway-four-targets');
    // every cell passes, route.map-runtime-update included (nginx by a rewritten map include and
    // a graceful reload, Apache by a rewritten RewriteMap txt: file); nginx and Apache declare
    // queue.maxconn-maxqueue unsupported (no bounded server queue)
    expectCells(run.report!);
    expect(run.report!.results.filter((r) => r.status === 'unsupported').map((r) => `${r.target} ${r.check}`)).toEqual(['nginx queue.maxconn-maxqueue', 'apache queue.maxconn-maxqueue']);
    expect(run.report!.results).toHaveLength(20);
    expect(run.code).toBe(0);
  }, 180_000);
});

describe('configs broken for exactly one node-map-gateway check fail it', () => {
  for (const { target, file, path, check } of brokenConfigs('node-map-gateway')) {
    it(`${target}: ${file} fails ${check}`, async () => {
      const run = await runLbdrill(['run', '--profile', 'node-map-gateway', '--target', `${target}=${path}`, '--only', check]);
      expect(run.report, run.stderr).toBeDefined();
      const result = run.report!.results.find((r) => r.check === check);
      expect(result?.status, result?.observed).toBe('fail');
      expect(run.code).toBe(1);
    }, 60_000);
  }
});

describe("a user's config that keeps its node map somewhere else", () => {
  it('nginx: lbdrill finds the map by its node names, rewrites that file and reloads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lbdrill-own-map-'));
    try {
      const bundled = join(ROOT, 'fixtures', 'configs', 'node-map-gateway');
      const config = readFileSync(join(bundled, 'nginx.conf'), 'utf8').replaceAll('/etc/nginx/nodes-nginx.map', '/etc/nginx/puppet/puppet-nodes.map');
      expect(config).toContain('include /etc/nginx/puppet/puppet-nodes.map;');
      writeFileSync(join(dir, 'nginx.conf'), config);
      copyFileSync(join(bundled, 'nodes-nginx.map'), join(dir, 'puppet-nodes.map'));
      const run = await runLbdrill(['run', '--profile', 'node-map-gateway', '--target', `nginx=${join(dir, 'nginx.conf')}`, '--only', 'route.map-runtime-update']);
      const result = run.report?.results.find((r) => r.check === 'route.map-runtime-update');
      expect(result?.status, result?.observed ?? run.stderr).toBe('pass');
      expect(result?.observed).toContain('puppet-nodes.map');
      expect(run.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
