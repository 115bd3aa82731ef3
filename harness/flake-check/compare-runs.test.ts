import { describe, expect, it } from 'vitest';
import { cellResult, syntheticReport } from '../report/diff/synthetic-report.ts';
import type { CheckResult } from '../checks/check.ts';
import type { RunReport } from '../report/run-report.ts';
import { compareRuns, formatTally } from './compare-runs.ts';
import { renderFlakeMarkdown, type FlakeCheckReport } from './flake-markdown.ts';

const run = (results: CheckResult[]): RunReport => syntheticReport('unused', results).report;

describe('compareRuns', () => {
  it('the same status in every run is stable, even a stable failure: exit 0', () => {
    const runs = [1, 2, 3].map(() => run([cellResult('prefix.strip', 'nginx', 'pass'), cellResult('tls.terminate', 'nginx', 'fail'), cellResult('hash.uri-consistent', 'apache', 'unsupported')]));
    const c = compareRuns(runs);
    expect(c.cells.map((x) => [x.check, x.target, x.flipped, formatTally(x.tally)])).toEqual([
      ['prefix.strip', 'nginx', false, '3 pass'],
      ['tls.terminate', 'nginx', false, '3 fail'],
      ['hash.uri-consistent', 'apache', false, '3 unsupported'],
    ]);
    expect(c.flips).toEqual([]);
    expect(c.exitCode).toBe(0);
  });

  it('a cell that passed in some runs and failed in one flips, with a sample of each verdict and the tally', () => {
    const runs = [1, 2, 3, 4].map((i) =>
      run([
        cellResult('prefix.strip', 'nginx', 'pass'),
        i === 3 ? cellResult('balance.weights', 'haproxy', 'fail', { observed: '56.9% for 60%', evidence: { share: 0.569 } }) : cellResult('balance.weights', 'haproxy', 'pass', { observed: `60.${i}% for 60%`, evidence: { share: 0.6 } }),
      ]),
    );
    const c = compareRuns(runs);
    expect(c.exitCode).toBe(1);
    expect(c.flips).toHaveLength(1);
    const flip = c.flips[0]!;
    expect([flip.check, flip.target, flip.statuses.join(' '), formatTally(flip.tally)]).toEqual(['balance.weights', 'haproxy', 'pass pass fail pass', '3 pass / 1 fail']);
    // the first run that passed and the run that failed, each with its own words and evidence
    expect(flip.samples).toEqual([
      { run: 1, status: 'pass', expected: 'as the contract says', observed: '60.1% for 60%', evidence: { share: 0.6 } },
      { run: 3, status: 'fail', expected: 'as the contract says', observed: '56.9% for 60%', evidence: { share: 0.569 } },
    ]);
    expect(c.cells.find((x) => x.check === 'prefix.strip')!.flipped).toBe(false);
  });

  it('pass -> error and a cell one run lacks are flips too', () => {
    const c = compareRuns([
      run([cellResult('a.x', 'nginx', 'pass'), cellResult('b.y', 'nginx', 'pass')]),
      run([cellResult('a.x', 'nginx', 'error', { observed: 'nginx crashed' })]),
    ]);
    expect(c.flips.map((f) => `${f.check} ${f.statuses.join(' ')}`)).toEqual(['a.x pass error', 'b.y pass absent']);
    expect(c.flips[1]!.samples[1]!.observed).toBe('run 2 has no result for this cell');
  });

  it('cells are told apart by target: the same check flipping on one target only', () => {
    const c = compareRuns([
      run([cellResult('a.x', 'nginx', 'pass'), cellResult('a.x', 'apache', 'pass')]),
      run([cellResult('a.x', 'nginx', 'pass'), cellResult('a.x', 'apache', 'fail')]),
    ]);
    expect(c.flips.map((f) => f.target)).toEqual(['apache']);
  });
});

describe('flake-check.md', () => {
  it('names each flipped cell with both verdicts, the tally of every cell and every run', () => {
    const comparison = compareRuns([run([cellResult('a.x', 'nginx', 'pass', { evidence: { long: 'z'.repeat(5000) } })]), run([cellResult('a.x', 'nginx', 'fail', { observed: 'too slow' })])]);
    const report: FlakeCheckReport = {
      tool: 'lbdrill',
      command: 'flake-check',
      startedAt: '2026-12-07T18:00:00.000Z',
      durationMs: 42_000,
      settings: { targets: ['nginx'], 'time scale': 0.1 },
      runRecords: [
        { run: 1, reportDir: 'run-1', exitCode: 0, durationMs: 20_000 },
        { run: 2, reportDir: 'run-2', exitCode: 1, durationMs: 22_000 },
      ],
      ...comparison,
    };
    const md = renderFlakeMarkdown(report);
    expect(md).toContain('**1 of 1 cells flipped** in 2 runs (42 s).');
    expect(md).toContain('## a.x on nginx: 1 pass / 1 fail');
    expect(md).toContain('### run 1: pass');
    expect(md).toContain('### run 2: fail\n\n- expected: as the contract says\n- observed: too slow');
    expect(md).toContain('all in flake-check.json');
    expect(md).toContain('| a.x | nginx | must | 1 pass / 1 fail | **FLIPPED** |');
    expect(md).toContain('| 2 | 1 | 22.0 | run-2 |');
  });
});
