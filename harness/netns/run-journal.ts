import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/*
 * What a test-host run created, on disk, so that `cleanupStale` can undo the run of a
 * process that died without disposing (SIGKILL, power cut of the harness). Namespaces and
 * veths carry lbdrill's name prefix and could be found by name alone; a route has no name,
 * and this record is the only way to know that a route is ours.
 */

/** Under /run: a tmpfs that, like the namespaces it describes, does not survive a reboot. */
export const DEFAULT_STATE_DIR = '/run/lbdrill/netns';

const record = z
  .object({
    runKey: z.string().regex(/^lbd-\d+-[\w]+$/),
    pid: z.number().int().positive(),
    runId: z.string(),
    testRange: z.string(),
    /** the claimed block's unreachable route, written only once it exists (it may be another run's otherwise). */
    route: z.string().nullable(),
    /** namespace names, written before creation (the names are ours alone). */
    namespaces: z.array(z.string()),
    /** root-side veth names, written once created (until then a name may be another process's); links[k] lives in namespaces[k]. */
    links: z.array(z.string()),
  })
  .strict();

/** One run's record of what it created. */
export type RunRecord = z.infer<typeof record>;

/** The journal of one run: rewritten atomically after every change. */
export class RunJournal {
  readonly file: string;
  readonly #record: RunRecord;

  constructor(stateDir: string, initial: RunRecord) {
    this.file = join(stateDir, `${initial.runKey}.json`);
    this.#record = initial;
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    this.#write();
  }

  get record(): Readonly<RunRecord> {
    return this.#record;
  }

  update(change: (record: RunRecord) => void): void {
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

  /** Every readable record in `stateDir` whose run key starts with `runPrefix`; unreadable files are skipped, never deleted. */
  static readAll(stateDir: string, runPrefix: string): Array<{ file: string; record: RunRecord }> {
    let names: string[];
    try {
      names = readdirSync(stateDir);
    } catch {
      return [];
    }
    const found: Array<{ file: string; record: RunRecord }> = [];
    for (const name of names) {
      if (!name.endsWith('.json') || !name.startsWith(runPrefix)) continue;
      const file = join(stateDir, name);
      try {
        const parsed = record.safeParse(JSON.parse(readFileSync(file, 'utf8')));
        if (parsed.success && `${parsed.data.runKey}.json` === name) found.push({ file, record: parsed.data });
      } catch {
        // being written or damaged: not ours to judge
      }
    }
    return found;
  }
}
