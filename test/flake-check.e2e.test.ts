import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FlakeCheckReport } from '../harness/flake-check/flake-markdown.ts';
import type { RunReport } from '../harness/report/run-report.ts';
import { runLbdrill } from './run-lbdrill.ts';

describe('lbdrill flake-check', () => {
  it('runs the profile twice, each as lbdrill run would, and finds no flip in stable checks: exit 0', async () => {
    const run = await runLbdrill(['flake-check', '--profile', 'shakenfist-api', '--runs', '2', '--target', 'reference', '--target', 'nginx', '--only', 'prefix.strip', '--only', 'headers.forwarded-for']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('run 1/2: 4 cells, 0 flips so far');
    expect(run.stderr).toContain('run 2/2: 4 cells, 0 flips so far');
    expect(run.stdout).toMatch(/prefix\.strip\s+nginx\s+stable\s+2 pass/);
    expect(run.stdout).toContain('0 flips: 4 cells, the same verdict in all 2 runs');
    // each run is a whole report dir of its own
    for (const dir of ['run-1', 'run-2']) {
      const report = JSON.parse(readFileSync(join(run.reportDir, dir, 'report.json'), 'utf8')) as RunReport;
      expect(report.results.map((r) => `${r.target} ${r.check} ${r.status}`).sort()).toEqual(['nginx headers.forwarded-for pass', 'nginx prefix.strip pass', 'reference headers.forwarded-for pass', 'reference prefix.strip pass']);
      expect(existsSync(join(run.reportDir, dir, 'summary.md'))).toBe(true);
    }
    const json = JSON.parse(readFileSync(join(run.reportDir, 'flake-check.json'), 'utf8')) as FlakeCheckReport;
    expect([json.runs, json.cells.length, json.flips.length, json.exitCode, json.runRecords.map((r) => r.reportDir)]).toEqual([2, 4, 0, 0, ['run-1', 'run-2']]);
    expect(readFileSync(join(run.reportDir, 'flake-check.md'), 'utf8')).toContain('**0 flips**: every one of 4 cells gave the same verdict in all 2 runs');
  }, 120_000);

  const bad: Array<[string, string[], RegExp]> = [
    ['one run', ['--profile', 'shakenfist-api', '--runs', '1'], /--runs <n>' argument '1' is invalid\. expected a number of runs in 2\.\.1000/],
    ['no --runs', ['--profile', 'shakenfist-api'], /^lbdrill: --runs: give how many runs/],
    ['no --profile', ['--runs', '3'], /^lbdrill: --profile: give the profile/],
    ['unknown profile', ['--profile', 'nope', '--runs', '3'], /unknown profile "nope"/],
  ];
  for (const [name, args, message] of bad) {
    it(`bad input (${name}): one line naming the flag, exit 2`, async () => {
      const run = await runLbdrill(['flake-check', ...args]);
      expect(run.code).toBe(2);
      const lines = run.stderr.split('\n').filter((l) => l.trim());
      expect(lines, run.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(message);
    }, 30_000);
  }
});
