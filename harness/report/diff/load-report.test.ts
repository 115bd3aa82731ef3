import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadReport } from './load-report.ts';
import { cellResult, syntheticReport } from './synthetic-report.ts';

const root = mkdtempSync(join(tmpdir(), 'lbdrill-diff-load-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function reportDir(name: string, content?: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  if (content !== undefined) writeFileSync(join(dir, 'report.json'), content);
  return dir;
}

describe('loadReport', () => {
  it('reads a report dir', async () => {
    const dir = reportDir('good', JSON.stringify(syntheticReport('x', [cellResult('a', 'nginx', 'pass')]).report));
    const loaded = await loadReport(dir);
    expect(loaded.dir).toBe(dir);
    expect(loaded.report.results[0]).toMatchObject({ check: 'a', status: 'pass' });
  });

  it.each([
    ['a directory that does not exist', () => join(root, 'missing'), (d: string) => `${d}: no such report directory`],
    ['a directory without report.json', () => reportDir('empty'), (d: string) => `${join(d, 'report.json')}: missing (is ${d} a report directory of lbdrill run?)`],
    ['report.json that is not JSON', () => reportDir('garbled', '{"tool":'), (d: string) => `${join(d, 'report.json')}: not JSON (Unexpected end of JSON input)`],
    ['a report with a status lbdrill never writes', () => reportDir('odd', JSON.stringify({ ...syntheticReport('x', [cellResult('a', 'nginx', 'pass')]).report, results: [{ ...cellResult('a', 'nginx', 'pass'), status: 'maybe' }] })), (d: string) => `${join(d, 'report.json')}: not an lbdrill report: results[0].status: Invalid enum value. Expected 'pass' | 'fail' | 'unsupported' | 'error' | 'skipped', received 'maybe'`],
  ])('rejects %s with one line naming it', async (_what, make, message) => {
    const dir = make();
    await expect(loadReport(dir)).rejects.toMatchObject({ code: 'LBDRILL_ERR_USAGE', message: message(dir) });
  });
});
