import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';

/**
 * A record on disk of what a run changed outside itself (network namespaces, hook commands
 * that stopped a deployed backend), rewritten atomically after every change, so that the
 * next run can undo what a run killed with SIGKILL left behind. One file per run, named
 * after its run key; the record's schema is the caller's.
 */
export class StateJournal<T extends { runKey: string }> {
  readonly file: string;
  readonly #record: T;

  constructor(stateDir: string, initial: T) {
    this.file = join(stateDir, `${initial.runKey}.json`);
    this.#record = initial;
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    this.#write();
  }

  get record(): Readonly<T> {
    return this.#record;
  }

  update(change: (record: T) => void): void {
    change(this.#record);
    this.#write();
  }

  remove(): void {
    rmSync(this.file, { force: true });
  }

  #write(): void {
    const temp = `${this.file}.tmp`;
    writeFileSync(temp, JSON.stringify(this.#record, null, 2) + '\n', { mode: 0o600 });
    renameSync(temp, this.file);
  }
}

/** Every readable record in `stateDir` whose run key starts with `runPrefix`; unreadable files are skipped, never deleted. */
export function readJournals<R extends { runKey: string }>(stateDir: string, runPrefix: string, schema: z.ZodType<R, z.ZodTypeDef, unknown>): Array<{ file: string; record: R }> {
  let names: string[];
  try {
    names = readdirSync(stateDir);
  } catch {
    return [];
  }
  const found: Array<{ file: string; record: R }> = [];
  for (const name of names) {
    if (!name.endsWith('.json') || !name.startsWith(runPrefix)) continue;
    const file = join(stateDir, name);
    try {
      const parsed = schema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
      if (parsed.success && `${parsed.data.runKey}.json` === name) found.push({ file, record: parsed.data });
    } catch {
      // being written or damaged: not ours to judge
    }
  }
  return found;
}

