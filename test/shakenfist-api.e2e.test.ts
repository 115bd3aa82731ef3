import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { brokenConfigs, ROOT, runLbdrill } from './run-lbdrill.ts';
import { expectReportHtmlWorks } from './report-html-browser.ts';

const PUBLISHED = join(ROOT, '..', 'shared', 'real-configs', 'shakenfist');

/** fixtures/configs/shakenfist-api/broken/<target>/<check-id>[~variant].<ext>: a config broken for exactly that check. */
const broken = brokenConfigs('shakenfist-api');

function mustFailures(report: NonNullable<Awaited<ReturnType<typeof runLbdrill>>['report']>): string[] {
  return report.results.filter((r) => r.severity === 'must' && r.status !== 'pass').map((r) => `${r.target}:${r.check}:${r.status}: ${r.observed}`);
}

describe('profile shakenfist-api, bundled configs', () => {
  it('passes every check on all four targets and exits 0', async () => {
    const run = await runLbdrill(['run', '--profile', 'shakenfist-api', '--target', 'reference', '--target', 'nginx', '--target', 'haproxy', '--target', 'apache']);
    expect(run.report, run.stderr).toBeDefined();
    await expectReportHtmlWorks(run.reportDir, 'shakenfist-api-four-targets');
    const notPassing = run.report!.results.filter((r) => r.status !== 'pass').map((r) => `${r.target}:${r.check}:${r.status}: ${r.observed}`);
    expect(notPassing).toEqual([]);
    expect(run.report!.targets.map((t) => t.status)).toEqual(['ran', 'ran', 'ran', 'ran']);
    expect(run.code).toBe(0);
  }, 330_000);
});

describe('the published Shaken Fist files, unchanged', () => {
  for (const target of ['nginx', 'apache']) {
    it(`${target}-loadbalancer.conf passes every must-check`, async () => {
      const run = await runLbdrill(['run', '--profile', 'shakenfist-api', '--target', `${target}=${join(PUBLISHED, `${target}-loadbalancer.conf`)}`]);
      expect(run.report, run.stderr).toBeDefined();
      expect(mustFailures(run.report!)).toEqual([]);
      expect(run.code).toBe(0);
      // upstreams were mapped to test backends and listed
      expect(run.report!.targets[0]!.mapped.filter((m) => m.kind === 'upstream').map((m) => m.from)).toEqual(['10.0.0.1:13000', '10.0.0.2:13000']);
    }, 120_000);
  }
});

describe('configs broken for exactly one check fail that check and no other must-check', () => {
  for (const { target, file, path, check } of broken) {
    it(`${target}: ${file} fails ${check}`, async () => {
      const run = await runLbdrill(['run', '--profile', 'shakenfist-api', '--target', `${target}=${path}`]);
      expect(run.report, run.stderr).toBeDefined();
      const result = run.report!.results.find((r) => r.check === check);
      expect(result?.status, JSON.stringify(result)).toBe('fail');
      const others = mustFailures(run.report!).filter((f) => !f.startsWith(`${target}:${check}:`));
      expect(others).toEqual([]);
      expect(run.code).toBe(result?.severity === 'must' ? 1 : 0);
    }, 180_000);
  }
});
