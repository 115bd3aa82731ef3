import { join } from 'node:path';
import { REPO_ROOT } from '../harness/paths.ts';
import { LbdrillError } from '../harness/errors.ts';
import { ManagedProcess } from '../harness/process/managed-process.ts';

const ENTRY = join(REPO_ROOT, 'bench', 'bench-backend.ts');
const READY_TIMEOUT_MS = 15_000;

/** One bench backend process and the addresses it listens on. */
export interface BenchBackendProcess {
  id: string;
  addresses: string[];
  process: ManagedProcess;
}

/**
 * The bench's backend processes, one per upstream server slot of the configs (slot 1
 * answers every target's first server address, slot 2 every second one): each in its
 * own process, so backends, load generator and LB never share an event loop.
 */
export class BackendFleet implements AsyncDisposable {
  readonly processes: readonly BenchBackendProcess[];

  private constructor(processes: BenchBackendProcess[]) {
    this.processes = processes;
  }

  /** Starts one process per slot; `slots[i]` lists the HOST:PORT addresses of slot i. */
  static async start(slots: readonly string[][], logDir: string): Promise<BackendFleet> {
    const started: BenchBackendProcess[] = [];
    try {
      for (const [i, addresses] of slots.entries()) {
        const id = `bench-backend-${i + 1}`;
        const proc = new ManagedProcess({
          command: process.execPath,
          args: ['--import', 'tsx', ENTRY, ...addresses.flatMap((a) => ['--listen', a])],
          cwd: REPO_ROOT,
          label: id,
          logFile: join(logDir, `${id}.log`),
        });
        started.push({ id, addresses, process: proc });
        await proc.waitForLine((line) => line.includes('"event":"ready"'), READY_TIMEOUT_MS).catch((err: Error) => {
          throw new LbdrillError('LBDRILL_ERR_BACKEND', `${id}: ${err.message}: ${proc.tail(3).join(' | ')}`, { cause: err });
        });
      }
      return new BackendFleet(started);
    } catch (err) {
      await Promise.allSettled(started.map((s) => s.process.stop()));
      throw err;
    }
  }

  /** Process group ids, for CPU accounting. */
  get pids(): number[] {
    return this.processes.flatMap((p) => (p.process.pid === undefined ? [] : [p.process.pid]));
  }

  /** A backend that died is a broken measurement: name it. */
  assertRunning(): void {
    const dead = this.processes.find((p) => !p.process.running);
    if (dead) throw new LbdrillError('LBDRILL_ERR_BACKEND', `${dead.id} exited (code ${dead.process.exitCode}): ${dead.process.tail(3).join(' | ')}`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.allSettled(this.processes.map((p) => p.process.stop()));
  }
}
