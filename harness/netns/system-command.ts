import { execFile, spawnSync } from 'node:child_process';

const COMMAND_TIMEOUT_MS = 10_000;

/** What a finished command printed; `code` is null when it could not start or timed out. */
export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `ip`, `iptables` and friends without a shell, bounded by a timeout. */
export function runCommand(command: string, args: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve({ code: 0, stdout, stderr });
      const code = typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr: stderr || err.message });
    });
  });
}

/** Synchronous variant for process 'exit' handlers, where nothing asynchronous runs. */
export function runCommandSync(command: string, args: readonly string[], timeoutMs = 2000): CommandResult {
  const result = spawnSync(command, args, { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? result.error?.message ?? '' };
}

/** Runs a command that must succeed; the error names the command and quotes its stderr. */
export async function mustRun(command: string, args: readonly string[]): Promise<string> {
  const result = await runCommand(command, args);
  if (result.code !== 0) throw new CommandError(command, args, result);
  return result.stdout;
}

/** A command that exited non-zero; `stderr` holds its complaint. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  readonly result: CommandResult;

  constructor(command: string, args: readonly string[], result: CommandResult) {
    super(`\`${[command, ...args].join(' ')}\` failed (exit ${result.code ?? 'none'}): ${result.stderr.trim().split('\n')[0] ?? ''}`);
    this.result = result;
  }
}

/** `ip -j ...` output parsed; iproute2 prints nothing at all for an empty list. */
export async function ipJson<T>(args: readonly string[]): Promise<T[]> {
  const stdout = await mustRun('ip', ['-j', ...args]);
  return stdout.trim() === '' ? [] : (JSON.parse(stdout) as T[]);
}
