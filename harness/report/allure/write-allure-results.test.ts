import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TestResult } from 'allure-js-commons';
import type { CheckResult } from '../../checks/check.ts';
import type { RunReport, TargetReport } from '../run-report.ts';
import { ALLURE_RESULTS_DIR, writeAllureResults } from './write-allure-results.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function target(name: string, rendered: string, binary: string | null): TargetReport {
  return { name, status: binary ? 'ran' : 'skipped', binary, config: null, bundled: true, rendered, mapped: [], listeners: [], backends: [], bindings: [] };
}

function result(check: string, targetName: string, status: CheckResult['status'], evidence: Record<string, unknown> = {}): CheckResult {
  return { check, title: `${check} title`, target: targetName, status, severity: 'must', durationMs: 100, expected: 'e', observed: 'o', evidence };
}

/** A report dir as a run leaves it: nginx with two rendered configs, an included file of its tree, a log and a failover timeline; apache not installed. */
function reportDir(): { dir: string; report: RunReport } {
  const dir = mkdtempSync(join(tmpdir(), 'lbdrill-allure-'));
  dirs.push(dir);
  const run = join(dir, 'run', 'nginx');
  mkdirSync(run, { recursive: true });
  writeFileSync(join(run, 'nginx.conf'), 'events {}\n');
  writeFileSync(join(run, 'site.conf'), 'server {}\n');
  writeFileSync(join(run, 'process.log'), 'started\n');
  writeFileSync(join(run, 'failover-timeline.csv'), 'seq,sent_ms\n1,0\n');
  writeFileSync(join(run, 'server.key'), 'secret\n');
  mkdirSync(join(run, 'files', 'conf.d'), { recursive: true });
  writeFileSync(join(run, 'files', 'conf.d', 'api.conf'), 'upstream api {}\n');
  const report: RunReport = {
    tool: 'lbdrill',
    version: '0.1.0',
    profile: 'haproxy-role',
    mode: 'quick',
    seed: 7,
    failover: { timeScale: 0.1, budgetsMs: {}, budgetSources: {}, probeRatePerSec: 200, probeSources: 1 },
    startedAt: '2026-12-07T15:00:00.000Z',
    durationMs: 1000,
    exitCode: 1,
    targets: [target('nginx', 'run/nginx/nginx.conf', 'nginx/1.22.1'), target('apache', 'run/apache/apache2.conf', null)],
    results: [
      // evidence holds the absolute path of the run that wrote it, which may since have moved
      result('failover.detect-within-budget', 'nginx', 'fail', { timeline: ['/elsewhere/run/nginx/failover-timeline.json', '/elsewhere/run/nginx/failover-timeline.csv'] }),
      result('retry.redispatch', 'nginx', 'pass', { succeeded: 20 }),
      result('retry.redispatch', 'apache', 'skipped'),
    ],
  };
  return { dir, report };
}

function written(dir: string): { tests: TestResult[]; files: string[] } {
  const files = readdirSync(join(dir, ALLURE_RESULTS_DIR));
  const tests = files.filter((f) => f.endsWith('-result.json')).map((f) => JSON.parse(readFileSync(join(dir, ALLURE_RESULTS_DIR, f), 'utf8')) as TestResult);
  return { tests: tests.sort((a, b) => a.start! - b.start!), files };
}

describe('allure-results of a finished run', () => {
  it('writes one test per check × target with its verdict and identity', () => {
    const { dir, report } = reportDir();
    writeAllureResults(dir, report);
    const { tests } = written(dir);
    expect(tests.map((t) => [t.name, t.status])).toEqual([
      ['failover.detect-within-budget on nginx', 'failed'],
      ['retry.redispatch on nginx', 'passed'],
      ['retry.redispatch on apache', 'skipped'],
    ]);
    expect(new Set(tests.map((t) => t.historyId)).size).toBe(3);
  });

  it('gives the same cell the same history id in the next run, so Allure keeps its history', () => {
    const first = reportDir();
    const second = reportDir();
    writeAllureResults(first.dir, first.report);
    writeAllureResults(second.dir, { ...second.report, startedAt: '2026-12-08T09:00:00.000Z', results: second.report.results.map((r) => ({ ...r, status: 'pass' as const })) });
    expect(written(second.dir).tests.map((t) => t.historyId)).toEqual(written(first.dir).tests.map((t) => t.historyId));
  });

  it('attaches the evidence, the timeline the evidence names, the rendered configs and the logs, each file copied once', () => {
    const { dir, report } = reportDir();
    writeAllureResults(dir, report);
    const { tests, files } = written(dir);
    const names = tests.map((t) => t.attachments.map((a) => a.name));
    const rendered = ['rendered config nginx.conf', 'rendered config site.conf', 'rendered config files/conf.d/api.conf', 'log process.log'];
    expect(names).toEqual([['evidence', 'failover-timeline.csv', ...rendered], ['evidence', ...rendered], ['evidence']]);
    const source = (test: TestResult, name: string): string => test.attachments.find((a) => a.name === name)!.source;
    expect(readFileSync(join(dir, ALLURE_RESULTS_DIR, source(tests[0]!, 'failover-timeline.csv')), 'utf8')).toBe('seq,sent_ms\n1,0\n');
    expect(JSON.parse(readFileSync(join(dir, ALLURE_RESULTS_DIR, source(tests[1]!, 'evidence')), 'utf8'))).toEqual({ succeeded: 20 });
    expect(source(tests[0]!, 'log process.log')).toBe(source(tests[1]!, 'log process.log'));
    // 3 evidence files + timeline + 3 configs + log; the private key is never attached
    expect(files.filter((f) => f.includes('-attachment'))).toHaveLength(8);
    expect(files.some((f) => readFileSync(join(dir, ALLURE_RESULTS_DIR, f), 'utf8').includes('secret'))).toBe(false);
  });

  it('writes the environment (versions, seed, time scale) and categories that tell must from should failures', () => {
    const { dir, report } = reportDir();
    writeAllureResults(dir, report);
    const env = readFileSync(join(dir, ALLURE_RESULTS_DIR, 'environment.properties'), 'utf8');
    for (const line of ['lbdrill=0.1.0', 'seed=7', 'time\\ scale=0.1', 'nginx=nginx/1.22.1', 'apache=not installed (skipped)']) expect(env).toContain(line);
    const categories = JSON.parse(readFileSync(join(dir, ALLURE_RESULTS_DIR, 'categories.json'), 'utf8')) as Array<{ name: string; messageRegex?: string }>;
    const must = categories.find((c) => c.name.startsWith('must-check failed'))!;
    expect(new RegExp(`^${must.messageRegex!.replace('(?s)', '')}$`, 's').test(written(dir).tests[0]!.statusDetails.message!)).toBe(true);
  });

  it('replaces the results of an earlier run in the same report dir', () => {
    const { dir, report } = reportDir();
    writeAllureResults(dir, report);
    writeAllureResults(dir, { ...report, results: report.results.slice(0, 1) });
    expect(written(dir).tests).toHaveLength(1);
  });
});
