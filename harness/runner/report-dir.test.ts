import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { claimReportDir } from './report-dir.ts';

const parent = mkdtempSync(join(tmpdir(), 'lbdrill-report-dir-'));
afterAll(() => rmSync(parent, { recursive: true, force: true }));

it('runs started in the same second each get a report dir of their own', () => {
  const now = new Date('2026-12-07T18:15:12.345Z');
  const dirs = [1, 2, 3].map(() => claimReportDir('', now, parent));
  expect(dirs).toEqual([join(parent, '2026-12-07T18-15-12Z'), join(parent, '2026-12-07T18-15-12Z-2'), join(parent, '2026-12-07T18-15-12Z-3')]);
  expect(claimReportDir('flake-', now, parent)).toBe(join(parent, 'flake-2026-12-07T18-15-12Z'));
});
