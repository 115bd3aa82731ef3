import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** "2026-12-07T18-15-12Z": an ISO time to the second, usable as a directory name everywhere. */
export function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}

/**
 * The default report dir, `reports/<prefix><timestamp>`, created here so that it is this run's
 * alone: two runs started in the same second get `…Z` and `…Z-2` (mkdir fails for the second
 * one, which tries the next name), never one directory for both.
 */
export function claimReportDir(prefix = '', now = new Date(), parent = 'reports'): string {
  mkdirSync(parent, { recursive: true });
  const base = join(parent, `${prefix}${timestamp(now)}`);
  for (let n = 1; ; n++) {
    const dir = n === 1 ? base : `${base}-${n}`;
    try {
      mkdirSync(dir);
      return dir;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
