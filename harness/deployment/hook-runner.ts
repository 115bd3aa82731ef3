import { randomBytes } from 'node:crypto';
import { $ } from 'zx';
import { z } from 'zod';
import { LbdrillError } from '../errors.ts';
import { trackDisposer } from '../process/cleanup.ts';
import { StateJournal } from '../process/state-journal.ts';
import type { DeployedBackendSpec, HookName } from './deployment.ts';

/** Under /run, like the network-namespace journal: a tmpfs that does not outlive a reboot, as a stopped container's state need not. */
export const DEFAULT_HOOK_JOURNAL_DIR = '/run/lbdrill/hooks';
/** Journal file names start with this; the rest is the pid and a random suffix. */
export const HOOK_RUN_PREFIX = 'hooks-';
/** A hook that has not finished by then is killed and counts as failed (a hung `ssh` must not hold the drill). */
export const HOOK_TIMEOUT_MS = 60_000;
/** Output kept per command in the report and in an error (the end of it, where the reason is). */
const OUTPUT_LIMIT_CHARS = 2_000;

/** What undoes each hook; `start` and `unpause` are undos themselves. */
const UNDO: Readonly<Partial<Record<HookName, HookName>>> = { stop: 'start', kill: 'start', pause: 'unpause' };

/** One hook command as it ran, for the report. */
export interface HookRecord {
  backend: string;
  hook: HookName;
  command: string;
  /** exit status; null when it was killed (timeout) */
  exitCode: number | null;
  signal: string | null;
  /** ISO time it started. */
  startedAt: string;
  durationMs: number;
  /** why it ran: a fault of the drill, or undoing one (also one a killed run left). */
  purpose: 'fault' | 'undo' | 'recovery';
  /** the end of its stdout and stderr. */
  output: string;
}

const pendingSchema = z.object({ backend: z.string(), hook: z.enum(['stop', 'kill', 'pause']), undo: z.enum(['start', 'unpause']), command: z.string() }).strict();
/** One run's hook journal on disk. */
export const hookJournalSchema = z
  .object({
    runKey: z.string().regex(/^hooks-\d+-\w+$/),
    pid: z.number().int().positive(),
    deployment: z.string(),
    /** hooks that ran (or started to) and are not undone yet, oldest first, with the command that undoes each. */
    pending: z.array(pendingSchema),
  })
  .strict();
/** What one run's hook journal holds. */
export type HookJournalRecord = z.infer<typeof hookJournalSchema>;

/** Runs one shell command with zx (bash -c), bounded by HOOK_TIMEOUT_MS; never throws for a failing command. */
export async function runCommand(command: string, backend: string, hook: HookName, purpose: HookRecord['purpose']): Promise<HookRecord> {
  const startedAt = new Date();
  const t0 = performance.now();
  const out = await $({ nothrow: true, quiet: true, timeout: HOOK_TIMEOUT_MS })`bash -c ${command}`;
  const output = String(out).trim();
  return {
    backend,
    hook,
    command,
    exitCode: out.exitCode,
    signal: out.signal,
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - t0),
    purpose,
    output: output.length > OUTPUT_LIMIT_CHARS ? `…${output.slice(-OUTPUT_LIMIT_CHARS)}` : output,
  };
}

/** "exit 3", "killed by SIGTERM (timeout 60 s)". */
export function describeExit(record: HookRecord): string {
  return record.exitCode !== null ? `exit ${record.exitCode}` : `killed by ${record.signal ?? 'a signal'} (hooks time out after ${HOOK_TIMEOUT_MS / 1000} s)`;
}

function failed(record: HookRecord): LbdrillError {
  const output = record.output === '' ? '(no output)' : record.output.replace(/\n/g, ' | ');
  return new LbdrillError('LBDRILL_ERR_HOOK_FAILED', `hook ${record.hook} of ${record.backend} failed (${describeExit(record)}): ${record.command}: ${output}`);
}

/**
 * Runs a deployment's hooks and guarantees their undo: before a hook that needs one runs,
 * its undo goes into a journal on disk; `undoAll` (on success, failure, Ctrl-C) runs what
 * is pending, and a run killed with SIGKILL leaves the journal for the next run to undo
 * (`recoverHookJournals`). Every command, with its exit status, time and duration, is kept
 * for the report.
 */
export class HookRunner implements AsyncDisposable {
  readonly records: HookRecord[] = [];
  readonly #journal: StateJournal<HookJournalRecord>;
  readonly #untrack: () => void;
  /** the first hook that failed; the drill stops on it and the run ends with exit 2. */
  failure: LbdrillError | undefined;

  constructor(options: { deploymentFile: string; journalDir?: string }) {
    this.#journal = new StateJournal<HookJournalRecord>(options.journalDir ?? DEFAULT_HOOK_JOURNAL_DIR, {
      runKey: `${HOOK_RUN_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`,
      pid: process.pid,
      deployment: options.deploymentFile,
      pending: [],
    });
    // Ctrl-C: cleanup.ts runs this before lbdrill exits.
    this.#untrack = trackDisposer(() => this[Symbol.asyncDispose]());
  }

  get journalFile(): string {
    return this.#journal.file;
  }

  /** Hooks that ran and are not undone yet. */
  get pending(): ReadonlyArray<{ backend: string; hook: HookName; undo: HookName; command: string }> {
    return this.#journal.record.pending;
  }

  /** Runs `hook` of `backend`; throws LBDRILL_ERR_HOOK_FAILED with its output when it fails (its undo stays pending: it may have half acted). */
  async run(backend: DeployedBackendSpec, hook: HookName): Promise<void> {
    const command = backend.hooks[hook];
    if (command === undefined) throw new LbdrillError('LBDRILL_ERR_HOOK_FAILED', `${backend.name} has no ${hook} hook in the deployment file`);
    const undo = UNDO[hook];
    if (undo !== undefined) {
      const undoCommand = backend.hooks[undo]!;
      this.#journal.update((r) => r.pending.push({ backend: backend.name, hook: hook as 'stop' | 'kill' | 'pause', undo: undo as 'start' | 'unpause', command: undoCommand }));
    }
    const record = await runCommand(command, backend.name, hook, undo === undefined && this.#isUndo(backend.name, hook) ? 'undo' : 'fault');
    this.records.push(record);
    if (record.exitCode !== 0) {
      const error = failed(record);
      this.failure ??= error;
      throw error;
    }
    // A successful start/unpause undoes every pending hook it is the undo of.
    if (undo === undefined) this.#journal.update((r) => (r.pending = r.pending.filter((p) => !(p.backend === backend.name && p.undo === hook))));
  }

  #isUndo(backend: string, hook: HookName): boolean {
    return this.#journal.record.pending.some((p) => p.backend === backend && p.undo === hook);
  }

  /** Runs the undo of every pending hook, newest first, once per backend and command; a failing undo is recorded and reported, the rest still run. */
  async undoAll(): Promise<void> {
    const errors: LbdrillError[] = [];
    for (const p of [...this.#journal.record.pending].reverse()) {
      if (!this.#journal.record.pending.includes(p)) continue;
      const record = await runCommand(p.command, p.backend, p.undo, 'undo');
      this.records.push(record);
      if (record.exitCode === 0) this.#journal.update((r) => (r.pending = r.pending.filter((x) => !(x.backend === p.backend && x.undo === p.undo))));
      else errors.push(failed(record));
    }
    if (errors.length > 0) {
      this.failure ??= errors[0];
      throw new LbdrillError('LBDRILL_ERR_HOOK_FAILED', `undo failed, left pending in ${this.#journal.file}: ${errors[0]!.message}`);
    }
  }

  /** Undoes what is pending; the journal goes only once nothing is (else the next run retries it). */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.undoAll();
      this.#journal.remove();
    } finally {
      this.#untrack();
    }
  }
}
