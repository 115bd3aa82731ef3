import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LbdrillError } from '../errors.ts';
import { rebuildReport } from './rebuild-report.ts';

const dir = mkdtempSync(join(tmpdir(), 'lbdrill-rebuild-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const REPORT = {
  tool: 'lbdrill', version: '0.1.0', profile: 'shakenfist-api', mode: 'quick', seed: 1, startedAt: '2026-12-07T15:00:00.000Z', durationMs: 1000, exitCode: 1,
  targets: [{ name: 'nginx', status: 'ran', binary: 'nginx/1.22.1', config: '/x/nginx.conf', bundled: true, rendered: 'run/nginx/nginx.conf', mapped: [], listeners: [], backends: [], bindings: [] }],
  results: [{ check: 'prefix.strip', title: 'prefix stripped', target: 'nginx', status: 'fail', severity: 'must', durationMs: 41, expected: 'a', observed: 'b', evidence: {} }],
  futureField: { kept: true },
};

async function failure(path: string): Promise<LbdrillError> {
  const err = await rebuildReport(path).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(LbdrillError);
  expect((err as LbdrillError).cannotRun).toBe(true);
  return err as LbdrillError;
}

describe('rebuildReport (lbdrill report DIR)', () => {
  it('writes report.html, summary.md and junit.xml from report.json, keeping fields it does not know', async () => {
    writeFileSync(join(dir, 'report.json'), JSON.stringify(REPORT));
    await rebuildReport(dir);
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toContain('data-check="prefix.strip" data-target="nginx" data-status="fail"');
    expect(existsSync(join(dir, 'summary.md'))).toBe(true);
    expect(existsSync(join(dir, 'junit.xml'))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')).futureField).toEqual({ kept: true });
  });

  it('a missing directory, a directory without report.json, or a file that is not a report: one line naming it', async () => {
    expect((await failure(join(dir, 'nope'))).message).toBe(`${join(dir, 'nope')} is not a directory: give the report directory a run wrote (it holds report.json)`);
    const empty = mkdtempSync(join(dir, 'empty-'));
    expect((await failure(empty)).message).toMatch(/report\.json cannot be read \(ENOENT\): is .* a report directory\?$/);
    writeFileSync(join(empty, 'report.json'), '{"tool":');
    expect((await failure(empty)).message).toMatch(/report\.json is not JSON: /);
    writeFileSync(join(empty, 'report.json'), JSON.stringify({ ...REPORT, results: [{ ...REPORT.results[0], status: 'maybe' }] }));
    expect((await failure(empty)).message).toMatch(/report\.json is not an lbdrill report: results\[0\]\.status: /);
    for (const m of [(await failure(empty)).message]) expect(m).not.toContain('\n');
  });
});
