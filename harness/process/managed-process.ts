import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { EventEmitter, once } from 'node:events';
import { trackProcessGroup } from './cleanup.ts';
import { withFdLimit } from './fd-limit.ts';
import { waitForLine, type CommandRunner, type LaunchSpec, type LbProcess } from './lb-process.ts';

const TAIL_LINES = 40;
const STOP_GRACE_MS = 2000;

/**
 * util-linux `setpriv --pdeathsig TERM -- CMD` sets PR_SET_PDEATHSIG and execs CMD (same pid):
 * should lbdrill die without cleaning up (SIGKILL, the OOM killer), the kernel sends the child
 * SIGTERM, and an nginx, HAProxy or Apache master then stops its own workers. Node cannot set it.
 */
const SETPRIV = '/usr/bin/setpriv';
const HAS_SETPRIV = process.platform === 'linux' && existsSync(SETPRIV);

/** The command line that runs `command` with the parent-death signal when the system has setpriv. */
export function withParentDeathSignal(command: string, args: readonly string[]): [string, string[]] {
  return HAS_SETPRIV ? [SETPRIV, ['--pdeathsig', 'TERM', '--', command, ...args]] : [command, [...args]];
}

/** Options for a child process lbdrill owns. */
export interface ManagedProcessOptions {
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** file receiving the child's stdout and stderr. */
  logFile?: string;
  /** a label for messages ("nginx", "reference-lb"). */
  label: string;
}

/**
 * A child process in its own process group, so stopping it also stops the workers it
 * forks (nginx, apache2). Emits 'line' for each line of stdout and stderr and 'exit' when it ends;
 * `unexpectedExit` is set when it ended before anyone asked it to (a crash of the LB).
 */
export class ManagedProcess extends EventEmitter implements LbProcess {
  readonly label: string;
  readonly child: ChildProcess;
  readonly #tail: string[] = [];
  readonly #log: WriteStream | undefined;
  readonly #untrack: () => void;
  #stopping = false;
  #exited: Promise<void>;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  unexpectedExit = false;

  constructor(options: ManagedProcessOptions) {
    super();
    this.label = options.label;
    const [command, args] = withParentDeathSignal(...withFdLimit(options.command, options.args));
    this.child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#log = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : undefined;
    this.#untrack = this.child.pid !== undefined ? trackProcessGroup(this.child.pid) : () => undefined;
    // Both streams, line by line, as a container's log stream gives them: HAProxy reports server
    // transitions on stderr whatever its `log` lines say.
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let partial = '';
      stream?.on('data', (chunk: Buffer) => {
        this.#log?.write(chunk);
        const lines = (partial + chunk.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          if (line.trim()) this.#remember(line);
          this.emit('line', line);
        }
      });
    }
    this.#exited = new Promise((resolve) => {
      this.child.once('error', (err) => {
        this.#remember(`${this.label}: ${err.message}`);
      });
      // 'exit', not 'close': forked workers inherit the pipes and keep them open after
      // the master dies, and a dead master is exactly what we must notice.
      this.child.once('exit', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        this.unexpectedExit = !this.#stopping;
        // Orphaned workers of a dead master would keep serving: end the whole group now.
        if (this.unexpectedExit) this.#killGroup('SIGKILL');
        this.#log?.end();
        resolve();
        this.emit('exit', code, signal);
      });
    });
  }

  #remember(line: string): void {
    this.#tail.push(line);
    if (this.#tail.length > TAIL_LINES) this.#tail.shift();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitCode === null && this.exitSignal === null;
  }

  /** The last lines the process wrote, for error messages. */
  tail(lines = TAIL_LINES): string[] {
    return this.#tail.slice(-lines);
  }

  /** Resolves with the first line (stdout or stderr) matching `predicate`; rejects if the process exits first. */
  waitForLine(predicate: (line: string) => boolean, timeoutMs: number): Promise<string> {
    return waitForLine(this, predicate, timeoutMs);
  }

  /** Sends `signal` to the process itself (not its group): nginx's master reloads on SIGHUP. */
  async signal(signal: NodeJS.Signals): Promise<void> {
    if (this.child.pid !== undefined && this.running) process.kill(this.child.pid, signal);
  }

  /** Waits for the process to end on its own. */
  exited(): Promise<void> {
    return this.#exited;
  }

  #killGroup(signal: NodeJS.Signals): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // group already gone
    }
  }

  /** SIGTERM to the whole group, SIGKILL after a grace period; resolves once it is gone. */
  async stop(): Promise<void> {
    const wasStopping = this.#stopping;
    this.#stopping = true;
    if (this.running && !wasStopping) this.#killGroup('SIGTERM');
    const timer = setTimeout(() => this.#killGroup('SIGKILL'), STOP_GRACE_MS);
    await this.#exited;
    clearTimeout(timer);
    // Workers of a forking server may outlive the master by a moment: sweep the group.
    this.#killGroup('SIGKILL');
    this.#untrack();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Runs a command to completion and returns its combined output (for `nginx -t` and friends). */
export async function runToCompletion(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ code: number | null; output: string }> {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (output += d.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 15_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, output };
}

/** The default CommandRunner: the command on this machine, with lbdrill's environment plus `env`. */
export const runHere: CommandRunner = (command, args, options = {}) =>
  runToCompletion(command, args, { ...(options.cwd !== undefined ? { cwd: options.cwd } : {}), env: { ...process.env, ...options.env } });

/** A target's command line started as a child of lbdrill, its output appended to `logFile`. */
export function spawnHere(launch: LaunchSpec, logFile: string): ManagedProcess {
  return new ManagedProcess({
    command: launch.command,
    args: launch.args,
    label: launch.label,
    logFile,
    env: { ...process.env, ...launch.env },
    ...(launch.cwd !== undefined ? { cwd: launch.cwd } : {}),
  });
}
