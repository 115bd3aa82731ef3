import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runLbdrill } from './run-lbdrill.ts';

const BROKEN_DIR = join(ROOT, 'fixtures', 'configs', 'path-and-auth', 'broken');

const broken = existsSync(BROKEN_DIR)
  ? readdirSync(BROKEN_DIR).flatMap((target) =>
      readdirSync(join(BROKEN_DIR, target))
        .filter((f) => /\.(conf|cfg|yaml)$/.test(f))
        .map((file) => ({ target, file, check: file.replace(/\.(conf|cfg|yaml)$/, '') })),
    )
  : [];

describe('profile path-and-auth (seed 003), bundled configs', () => {
  it('passes every check on all four targets', async () => {
    const run = await runLbdrill(['run', '--profile', 'path-and-auth', '--target', 'reference', '--target', 'haproxy', '--target', 'nginx', '--target', 'apache']);
    expect(run.report, run.stderr).toBeDefined();
    expect(run.report!.results.filter((r) => r.status !== 'pass').map((r) => `${r.target} ${r.check}: ${r.observed}`)).toEqual([]);
    expect(run.report!.results).toHaveLength(12);
    expect(run.code).toBe(0);
  }, 120_000);
});

describe('configs broken for exactly one path-and-auth check fail it', () => {
  for (const { target, file, check } of broken) {
    it(`${target}: ${file} fails ${check}`, async () => {
      const run = await runLbdrill(['run', '--profile', 'path-and-auth', '--target', `${target}=${join(BROKEN_DIR, target, file)}`]);
      expect(run.report, run.stderr).toBeDefined();
      expect(run.report!.results.find((r) => r.check === check)?.status).toBe('fail');
      // and only that check
      expect(run.report!.results.filter((r) => r.check !== check && r.status !== 'pass').map((r) => `${r.check}: ${r.observed}`)).toEqual([]);
      expect(run.code).toBe(1);
    }, 60_000);
  }
});
