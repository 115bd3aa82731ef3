import { z } from 'zod';
import { readJournals, StateJournal } from '../process/state-journal.ts';

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

/** The journal of one test-host run: rewritten atomically after every change. */
export class RunJournal extends StateJournal<RunRecord> {
  /** Every readable record in `stateDir` whose run key starts with `runPrefix`; unreadable files are skipped, never deleted. */
  static readAll(stateDir: string, runPrefix: string): Array<{ file: string; record: RunRecord }> {
    return readJournals(stateDir, runPrefix, record);
  }
}
