import { createWriteStream, type WriteStream } from 'node:fs';
import { EventEmitter } from 'node:events';
import { basename } from 'node:path';
import { GenericContainer, type StartedTestContainer } from 'testcontainers';
import { trackDisposer } from '../process/cleanup.ts';
import { waitForLine, type LaunchSpec, type LbProcess, type StartupCost } from '../process/lb-process.ts';
import type { ContainerEngine } from './container-engine.ts';
import { runLabels } from './container-labels.ts';

const TAIL_LINES = 40;
/** SIGTERM, then the engine kills the container after this long (whole seconds for the Docker API). */
const STOP_GRACE_MS = 2000;
const ONE_SHOT_TIMEOUT_MS = 60_000;

/**
 * Other names the same program has in other images: Debian's `apache2` is `httpd` in the official
 * httpd image. A container runs the first of them its image has on PATH.
 */
const SAME_PROGRAM: Readonly<Record<string, readonly string[]>> = { apache2: ['apache2', 'httpd'] };

/** Runs the first program of $LBDRILL_PROGRAMS found on the image's PATH with the container's arguments (exec: it stays the main process). */
const LAUNCHER = 'for c in $LBDRILL_PROGRAMS; do command -v "$c" >/dev/null 2>&1 && exec "$c" "$@"; done; echo "lbdrill: the image has none of $LBDRILL_PROGRAMS on its PATH" >&2; exit 127';

/**
 * The proxy starts as root, as natively under lbdrill and in the Debian images, and drops to its
 * config's `user` itself: the official haproxy image's own USER could not create the stats socket
 * in the run dir.
 */
const AS_ROOT = '0:0';

/** What a container of a target is: its image, its command line and the host paths it sees. */
export interface ContainerLaunch {
  image: string;
  /** the target ("nginx"), for labels and names. */
  target: string;
  launch: LaunchSpec;
  /** host paths bind-mounted at the same path besides `launch.mounts` (the run dir, read-write). */
  mounts: Array<{ path: string; readOnly: boolean }>;
}

/** Entrypoint, arguments and environment that run `launch` in any image with a /bin/sh: the program is looked up on the image's PATH. */
function commandLine(launch: LaunchSpec): { entrypoint: string[]; args: string[]; env: Record<string, string> } {
  const program = basename(launch.command);
  return {
    entrypoint: ['/bin/sh', '-c', LAUNCHER, 'lbdrill-launch'],
    args: launch.args,
    env: { ...launch.env, LBDRILL_PROGRAMS: (SAME_PROGRAM[program] ?? [program]).join(' ') },
  };
}

function mountsOf(spec: ContainerLaunch): Array<{ source: string; target: string; mode: 'ro' | 'rw' }> {
  const all = [...spec.mounts, ...(spec.launch.mounts ?? [])];
  return all.map((m) => ({ source: m.path, target: m.path, mode: m.readOnly ? 'ro' : 'rw' }));
}

let counter = 0;
function containerName(target: string, role: string): string {
  return `lbdrill-${process.pid}-${target}-${role}-${++counter}`;
}

/**
 * The LB under test in a container (testcontainers on the engine's Docker API), host networking,
 * its run dir bind-mounted at the same path. Behaves as ManagedProcess does for the runner: 'line'
 * for each line of the container's log stream, 'exit' when it ends, `unexpectedExit` when it ended
 * by itself. Created at once; the container starts in the background and a failure to start ends
 * it like a crash at start-up, with the engine's message in `tail()`.
 */
export class ContainerProcess extends EventEmitter implements LbProcess {
  readonly label: string;
  readonly #tail: string[] = [];
  readonly #log: WriteStream;
  readonly #engine: ContainerEngine;
  readonly #name: string;
  readonly #untrack: () => void;
  readonly #exited: Promise<void>;
  readonly #created: Promise<StartedTestContainer | undefined>;
  #stopping = false;
  #stopped: Promise<void> | undefined;
  pid: number | undefined;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  unexpectedExit = false;
  #ended = false;
  #startup: StartupCost | undefined;

  constructor(engine: ContainerEngine, spec: ContainerLaunch, options: { logFile: string; imageCheckMs: number }) {
    super();
    this.label = spec.launch.label;
    this.#engine = engine;
    this.#name = containerName(spec.target, 'lb');
    this.#log = createWriteStream(options.logFile, { flags: 'a' });
    // On Ctrl-C the container goes before lbdrill's own Podman service does: at once (kill and
    // remove), as cleanup.ts gives every undo 3 s in all.
    this.#untrack = trackDisposer(async () => {
      this.#stopping = true;
      await removeByName(engine, this.#name);
    });
    const { entrypoint, args, env } = commandLine(spec.launch);
    let container = new GenericContainer(spec.image)
      .withName(this.#name)
      .withEntrypoint(entrypoint)
      .withCommand(args)
      .withEnvironment(env)
      .withNetworkMode('host')
      .withUser(AS_ROOT)
      .withBindMounts(mountsOf(spec))
      .withLabels(runLabels(spec.target, 'lb'))
      .withLogConsumer((stream) => this.#consume(stream));
    if (spec.launch.cwd !== undefined) container = container.withWorkingDir(spec.launch.cwd);
    const t0 = performance.now();
    this.#created = container.start().then(
      async (started) => {
        const inspect = await engine.client.container.inspect(engine.client.container.getById(started.getId()));
        this.pid = inspect.State.Pid > 0 ? inspect.State.Pid : undefined;
        this.#startup = { image: spec.image, imageCheckMs: options.imageCheckMs, createMs: Math.round(performance.now() - t0) };
        return started;
      },
      (err: unknown) => {
        this.#remember(`${this.label}: the container did not start: ${(err as Error).message.split('\n')[0]}`);
        return undefined;
      },
    );
    this.#exited = this.#watch();
  }

  /** Waits for the container to end (or never to have started) and reports it like a process exit. */
  async #watch(): Promise<void> {
    const started = await this.#created;
    if (started !== undefined) {
      const handle = this.#engine.client.container.getById(started.getId());
      try {
        const result = (await handle.wait()) as { StatusCode?: number };
        this.exitCode = result.StatusCode ?? null;
      } catch (err) {
        this.#remember(`${this.label}: lost the container: ${(err as Error).message}`);
      }
    }
    this.#ended = true;
    this.unexpectedExit = !this.#stopping;
    this.#log.end();
    this.emit('exit', this.exitCode, this.exitSignal);
  }

  #consume(stream: NodeJS.ReadableStream): void {
    let partial = '';
    stream.on('data', (chunk: Buffer | string) => {
      this.#log.write(chunk);
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        this.#remember(line);
        this.emit('line', line);
      }
    });
    stream.on('error', () => undefined);
  }

  #remember(line: string): void {
    if (!line.trim()) return;
    this.#tail.push(line);
    if (this.#tail.length > TAIL_LINES) this.#tail.shift();
  }

  /** Image check, create and start of the container; undefined when it did not start. */
  async startupCost(): Promise<StartupCost | undefined> {
    await this.#created;
    return this.#startup;
  }

  get running(): boolean {
    return !this.#ended;
  }

  tail(lines = TAIL_LINES): string[] {
    return this.#tail.slice(-lines);
  }

  waitForLine(predicate: (line: string) => boolean, timeoutMs: number): Promise<string> {
    return waitForLine(this, predicate, timeoutMs);
  }

  /** Signals the container's main process through the engine (the host pid may be in another machine's namespace). */
  async signal(signal: NodeJS.Signals): Promise<void> {
    const started = await this.#created;
    if (started !== undefined && this.running) await this.#engine.client.container.getById(started.getId()).kill({ signal });
  }

  /** SIGTERM, SIGKILL after a grace period, then the container is removed; resolves once it is gone. */
  stop(): Promise<void> {
    this.#stopping = true;
    this.#stopped ??= (async () => {
      const started = await this.#created;
      try {
        if (started !== undefined) await started.stop({ timeout: STOP_GRACE_MS, remove: true, removeVolumes: true });
      } catch {
        // already removed; a leftover is found by the next run's sweep (its labels name this pid)
        await removeByName(this.#engine, this.#name);
      }
      await this.#exited;
      this.#untrack();
    })();
    return this.#stopped;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

async function removeByName(engine: ContainerEngine, name: string): Promise<void> {
  try {
    await engine.client.container.getById(name).remove({ force: true });
  } catch {
    // not there
  }
}

/**
 * Runs `launch` to completion in a one-shot container of `image` (the proxy's config check, `-v`):
 * same mounts and host networking as the LB, removed afterwards whatever happened.
 */
export async function runInContainer(engine: ContainerEngine, spec: ContainerLaunch): Promise<{ code: number | null; output: string }> {
  const { entrypoint, args, env } = commandLine(spec.launch);
  const name = containerName(spec.target, 'check');
  const untrack = trackDisposer(() => removeByName(engine, name));
  try {
    const handle = await engine.client.container.create({
      name,
      Image: spec.image,
      Entrypoint: entrypoint,
      Cmd: args,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: runLabels(spec.target, 'check'),
      User: AS_ROOT,
      ...(spec.launch.cwd !== undefined ? { WorkingDir: spec.launch.cwd } : {}),
      HostConfig: { NetworkMode: 'host', Binds: mountsOf(spec).map((m) => `${m.source}:${m.target}:${m.mode}`) },
    });
    await engine.client.container.start(handle);
    const timer = setTimeout(() => void handle.kill().catch(() => undefined), ONE_SHOT_TIMEOUT_MS);
    const result = (await handle.wait()) as { StatusCode?: number };
    clearTimeout(timer);
    const logs = await engine.client.container.logs(handle);
    let output = '';
    for await (const chunk of logs) output += String(chunk);
    return { code: result.StatusCode ?? null, output };
  } finally {
    await removeByName(engine, name);
    untrack();
  }
}
