import { rmSync } from 'node:fs';
import { isProcessAlive } from '../netns/run-names.ts';
import { readJournals, StateJournal } from '../process/state-journal.ts';
import { DEFAULT_HOOK_JOURNAL_DIR, describeExit, HOOK_RUN_PREFIX, hookJournalSchema, runCommand, type HookJournalRecord, type HookRecord } from './hook-runner.ts';

/**
 * Undoes what a run killed without disposing (SIGKILL, power cut of the harness host) left
 * behind: every hook journal whose process is gone has its pending undos run, newest first,
 * and is removed once all of them succeeded. Journals of live runs are theirs. Says what it
 * does through `log`, and returns the commands it ran for the report.
 */
export async function recoverHookJournals(options: { journalDir?: string; log: (line: string) => void }): Promise<HookRecord[]> {
  const dir = options.journalDir ?? DEFAULT_HOOK_JOURNAL_DIR;
  const ran: HookRecord[] = [];
  for (const { file, record } of readJournals(dir, HOOK_RUN_PREFIX, hookJournalSchema)) {
    if (isProcessAlive(record.pid)) continue;
    if (record.pending.length === 0) {
      rmSync(file, { force: true });
      continue;
    }
    options.log(`found the hook journal of an earlier run (pid ${record.pid}, ${record.deployment}) that ended without undoing ${record.pending.length} hook(s): undoing them now`);
    // Re-adopt the record so that each undo that succeeds leaves the file at once.
    const journal = new StateJournal<HookJournalRecord>(dir, { ...record, pending: [...record.pending] });
    for (const p of [...record.pending].reverse()) {
      const done = await runCommand(p.command, p.backend, p.undo, 'recovery');
      ran.push(done);
      options.log(`  ${p.undo} ${p.backend} (after its ${p.hook}): ${p.command} -> ${describeExit(done)} in ${done.durationMs} ms`);
      if (done.exitCode === 0) journal.update((r) => (r.pending = r.pending.filter((x) => !(x.backend === p.backend && x.undo === p.undo))));
      else options.log(`  still pending in ${file}: ${done.output.split('\n').slice(-3).join(' | ')}`);
    }
    if (journal.record.pending.length === 0) journal.remove();
  }
  return ran;
}
