import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isLbdrillError } from '../errors.ts';
import { findK6 } from './k6-binary.ts';

describe('the k6 binary of --load k6', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbdrill-k6bin-'));
  const k6 = join(dir, 'k6');
  writeFileSync(k6, '#!/bin/sh\n');
  chmodSync(k6, 0o755);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is K6_BIN when set, else k6 on PATH', () => {
    expect(findK6({ K6_BIN: k6, PATH: '' })).toBe(k6);
    expect(findK6({ PATH: `/nonexistent:${dir}` })).toBe(k6);
  });

  it('missing: one line saying where it was looked for and how to set it, exit 2', () => {
    const err = (() => {
      try {
        return findK6({ PATH: '/nonexistent' });
      } catch (e) {
        return e;
      }
    })();
    expect(isLbdrillError(err, 'LBDRILL_ERR_BINARY_MISSING') && err.cannotRun).toBe(true);
    expect((err as Error).message).toMatch(/^k6 not found on PATH; set K6_BIN /);
    expect(() => findK6({ K6_BIN: join(dir, 'nope'), PATH: dir })).toThrow(/^K6_BIN=.*nope is not an executable file$/);
  });
});
