import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findOnPath } from './find-on-path.ts';

describe('findOnPath', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbdrill-path-'));
  const tool = join(dir, 'tool');
  writeFileSync(tool, '#!/bin/sh\n');
  chmodSync(tool, 0o755);
  const plain = join(dir, 'plain');
  writeFileSync(plain, 'not executable');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds a bare name in PATH, skipping directories without it', () => {
    expect(findOnPath('tool', `/nonexistent:${dir}`)).toBe(tool);
  });

  it('takes a path as it is', () => {
    expect(findOnPath(tool, '')).toBe(tool);
  });

  it('finds nothing for a missing or non-executable file', () => {
    expect(findOnPath('nothing-here', dir)).toBeUndefined();
    expect(findOnPath('plain', dir)).toBeUndefined();
    expect(findOnPath(plain, '')).toBeUndefined();
  });
});
