import { once, type EventEmitter } from 'node:events';

/**
 * The proxy's command line, one function both runtimes use: a native child gets it as is (with
 * lbdrill's environment), a container runs it in the image with the run dir and `mounts` bind-mounted
 * at the same paths, so the rendered config's absolute paths work unchanged.
 */
export interface LaunchSpec {
  /** the program ("nginx", or the node binary for the reference LB). */
  command: string;
  args: string[];
  /** variables on top of the runtime's own environment. */
  env?: Record<string, string>;
  cwd?: string;
  /** a label for messages ("nginx", "reference-lb"). */
  label: string;
  /** host paths besides the run dir the proxy reads or writes, seen at the same path inside a container. */
  mounts?: Array<{ path: string; readOnly: boolean }>;
}

/** Runs a command to completion where the target runs (a child here, a one-shot container in its image); `env` adds to that runtime's environment. */
export type CommandRunner = (command: string, args: string[], options?: { env?: Record<string, string>; cwd?: string }) => Promise<{ code: number | null; output: string }>;

/** What starting a containerized LB cost: its image, the image check (a build when it was missing) and create + start. */
export interface StartupCost {
  image: string;
  imageCheckMs: number;
  createMs: number;
}

/**
 * The load balancer under test as the runner and the runtime views see it, whatever runs it: a
 * child process (ManagedProcess) or a container (ContainerProcess). Emits 'line' for each line it
 * writes and 'exit' (code, signal) when it ends.
 */
export interface LbProcess extends AsyncDisposable {
  /** a label for messages ("nginx", "reference-lb"). */
  readonly label: string;
  /** pid of the LB's main process on this host (the nginx master nginx-reload signals), when known. */
  readonly pid: number | undefined;
  readonly running: boolean;
  readonly exitCode: number | null;
  readonly exitSignal: NodeJS.Signals | null;
  /** set when it ended before anyone asked it to (a crash of the LB). */
  readonly unexpectedExit: boolean;
  on(event: 'line', listener: (line: string) => void): this;
  on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  off(event: 'line', listener: (line: string) => void): this;
  /** The last lines it wrote, for error messages. */
  tail(lines?: number): string[];
  /** Resolves with the first line matching `predicate`; rejects if it exits or the time runs out first. */
  waitForLine(predicate: (line: string) => boolean, timeoutMs: number): Promise<string>;
  /** What starting it cost, from a runtime that measures it (containers); resolves once it has started. */
  startupCost?(): Promise<StartupCost | undefined>;
  /** Sends a signal to the LB's main process (SIGHUP: nginx's graceful reload). */
  signal(signal: NodeJS.Signals): Promise<void>;
  /** Stops it (SIGTERM, then SIGKILL after a grace period) and resolves once it is gone. */
  stop(): Promise<void>;
}

/** Resolves with the first line `lb` writes that matches `predicate`; rejects with its last words if it exits, or when the time runs out. */
export async function waitForLine(lb: LbProcess & EventEmitter, predicate: (line: string) => boolean, timeoutMs: number): Promise<string> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let listener: ((line: string) => void) | undefined;
  try {
    const onLine = new Promise<string>((resolve) => {
      listener = (line: string): void => {
        if (predicate(line)) resolve(line);
      };
      lb.on('line', listener);
    });
    const onExit = once(lb, 'exit', { signal: controller.signal }).then(() => {
      throw new Error(`${lb.label} exited (code ${lb.exitCode}, signal ${lb.exitSignal}): ${lb.tail(3).join(' | ')}`);
    });
    const onTimeout = once(controller.signal, 'abort').then(() => {
      throw new Error(`${lb.label} did not report ready within ${timeoutMs} ms`);
    });
    return await Promise.race([onLine, onExit, onTimeout]);
  } finally {
    clearTimeout(timer);
    controller.abort();
    if (listener) lb.off('line', listener);
  }
}
