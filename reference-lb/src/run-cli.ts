import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { Command, CommanderError } from 'commander';
import { startAdminApi, type StartedAdminApi } from './admin-api.ts';
import type { IpcPort, PrimaryMessage, WorkerMessage } from './cluster-messages.ts';
import { ClusterStateOwner } from './cluster-state-owner.ts';
import type { LbConfig } from './config-schema.ts';
import { isLbError } from './errors.ts';
import type { AdminInfo, LbEvent, ListenerInfo, ReadyEvent } from './events.ts';
import { followPrimaryState } from './follow-primary-state.ts';
import { loadConfig } from './load-config.ts';
import { MapRegistry } from './map-registry.ts';
import { createPools, startLoadBalancer, type StartedLoadBalancer } from './start-load-balancer.ts';
import { createMaps } from './upstream-map.ts';

/** Exit codes: 0 stopped by a signal (or --check passed), 2 could not start (bad usage, config, TLS, bind). */
export const EXIT_OK = 0;
export const EXIT_CANNOT_START = 2;

/** A close that takes longer than this is abandoned so SIGTERM exits in well under a second. */
const SHUTDOWN_BUDGET_MS = 700;

/** Where the CLI writes; process stdio unless a caller captures it. */
export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** The one stderr line for an error: always starts with `reference-lb: `. */
export function errorLine(err: unknown): string {
  const message = isLbError(err) || err instanceof Error ? err.message : String(err);
  if (message.startsWith('reference-lb: ')) return message;
  if (message.startsWith('reference-lb ')) return `reference-lb: ${message.slice('reference-lb '.length)}`;
  return `reference-lb: ${message}`;
}

function printEvent(io: CliIo, event: LbEvent): void {
  io.stdout.write(`${JSON.stringify(event)}\n`);
}

function readyEvent(listeners: readonly ListenerInfo[], admin: AdminInfo | undefined): ReadyEvent {
  return admin ? { event: 'ready', listeners: [...listeners], admin } : { event: 'ready', listeners: [...listeners] };
}

/** This worker's end of the cluster IPC channel. */
const primaryPort: IpcPort<WorkerMessage, PrimaryMessage> = {
  send: (message) => {
    if (process.connected) process.send?.(message);
  },
  onMessage: (listener) => {
    process.on('message', listener);
    return () => process.off('message', listener);
  },
};

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

async function closeWithin(lb: StartedLoadBalancer, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([lb.close(), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** Single process: serve until SIGTERM/SIGINT. */
async function runSingle(config: LbConfig, io: CliIo): Promise<number> {
  const signal = waitForSignal();
  let lb: StartedLoadBalancer;
  try {
    lb = await startLoadBalancer(config, { onEvent: (e) => printEvent(io, e) });
  } catch (err) {
    io.stderr.write(`${errorLine(err)}\n`);
    return EXIT_CANNOT_START;
  }
  printEvent(io, readyEvent(lb.listeners, lb.admin));
  await signal;
  await closeWithin(lb, SHUTDOWN_BUDGET_MS);
  return EXIT_OK;
}

/** A cluster worker: serve, report readiness to the primary, stop on a signal or when the primary goes away. */
async function runWorker(config: LbConfig, io: CliIo): Promise<number> {
  const send = (message: WorkerMessage): void => {
    process.send?.(message);
  };
  const stopped = Promise.race([waitForSignal(), once(process, 'disconnect')]);
  let lb: StartedLoadBalancer;
  try {
    // Server state and maps are the primary's: take its snapshot before listening, then follow it.
    const pools = createPools(config);
    const maps = new MapRegistry(createMaps(config.maps, pools));
    await followPrimaryState(pools, primaryPort, maps);
    lb = await startLoadBalancer(config, { onEvent: (e) => printEvent(io, e), pools, maps, externalState: true });
  } catch (err) {
    send({ type: 'failed', line: errorLine(err) });
    return EXIT_CANNOT_START;
  }
  send({ type: 'ready', listeners: [...lb.listeners] });
  await stopped;
  await closeWithin(lb, SHUTDOWN_BUDGET_MS);
  return EXIT_OK;
}

/**
 * The primary of `workers: N`: forks the workers (which share the listening sockets),
 * prints one ready line, replaces crashed workers. It also owns server state and maps:
 * health checks, passive ejection, map changes and the admin API run here once, and
 * workers follow over IPC.
 */
async function runPrimary(config: LbConfig, count: number, io: CliIo): Promise<number> {
  cluster.schedulingPolicy = cluster.SCHED_RR;
  const workers = new Set<Worker>();
  const pools = createPools(config);
  // Nothing goes to stdout before the ready line: state changes while workers start are held back.
  let held: LbEvent[] | undefined = [];
  const onEvent = (e: LbEvent): void => {
    if (held) held.push(e);
    else printEvent(io, e);
  };
  const state = new ClusterStateOwner(pools, { onEvent, workers: () => workers, maps: createMaps(config.maps, pools) });
  let admin: StartedAdminApi | undefined;
  const closeState = async (): Promise<void> => {
    state.close();
    await Promise.all([admin?.close(), ...[...pools.values()].map((p) => p.close())]);
  };
  if (config.admin) {
    try {
      admin = await startAdminApi(config.admin, state.monitor, {
        collectCounters: () => state.collectCounters(),
        maps: state.maps,
        afterMapChange: () => state.syncWorkers(),
      });
    } catch (err) {
      io.stderr.write(`${errorLine(err)}\n`);
      await closeState();
      return EXIT_CANNOT_START;
    }
  }
  state.monitor.start();
  let stopping = false;
  let settleStart: ((result: { listeners: ListenerInfo[] } | { line: string }) => void) | undefined;
  const started = new Promise<{ listeners: ListenerInfo[] } | { line: string }>((resolve) => (settleStart = resolve));
  let readyCount = 0;

  const fork = (): void => {
    const worker = cluster.fork();
    workers.add(worker);
    worker.on('message', (message: WorkerMessage) => {
      if (state.handle(worker, message)) return;
      if (message.type === 'ready') {
        readyCount++;
        if (readyCount === count) settleStart?.({ listeners: message.listeners });
      } else if (message.type === 'failed') {
        settleStart?.({ line: message.line });
      }
    });
    worker.on('exit', (code, signal) => {
      workers.delete(worker);
      state.forget(worker);
      if (stopping) return;
      if (readyCount < count) {
        settleStart?.({ line: `reference-lb: worker ${worker.process.pid} exited with ${signal ?? code} before it was ready` });
        return;
      }
      printEvent(io, { event: 'worker-exit', pid: worker.process.pid ?? 0, code, signal });
      fork();
    });
  };

  const stopAll = async (): Promise<void> => {
    stopping = true;
    const exits = [...workers].map((w) => (w.isDead() ? Promise.resolve() : once(w, 'exit').then(() => undefined)));
    for (const w of workers) w.process.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(exits), new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_BUDGET_MS)))]);
    clearTimeout(timer);
    for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL');
  };

  const signal = waitForSignal();
  for (let i = 0; i < count; i++) fork();
  const result = await Promise.race([started, signal.then(() => undefined)]);
  if (result === undefined) {
    await Promise.all([stopAll(), closeState()]);
    return EXIT_OK;
  }
  if ('line' in result) {
    io.stderr.write(`${result.line}\n`);
    await Promise.all([stopAll(), closeState()]);
    return EXIT_CANNOT_START;
  }
  printEvent(io, readyEvent(result.listeners, admin ? { host: admin.host, port: admin.port } : undefined));
  for (const e of held ?? []) printEvent(io, e);
  held = undefined;
  await signal;
  await Promise.all([stopAll(), closeState()]);
  return EXIT_OK;
}

/**
 * The reference LB's command line: `--config FILE` (YAML or JSON), `--check` to only
 * validate. Resolves with the exit code once the LB has stopped (SIGTERM/SIGINT) or
 * could not start; the caller exits with it (main.ts does).
 */
export async function runCli(argv: readonly string[], io: CliIo = process): Promise<number> {
  const program = new Command()
    .name('reference-lb')
    .description("lbdrill's reference load balancer")
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON), see reference-lb/README.md')
    .option('--check', 'validate the config and exit')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: () => undefined });
  let opts: { config: string; check?: boolean };
  try {
    opts = program.parse([...argv], { from: 'user' }).opts();
  } catch (err) {
    if (err instanceof CommanderError && (err.code === 'commander.helpDisplayed' || err.code === 'commander.help')) return EXIT_OK;
    io.stderr.write(`reference-lb: ${(err as Error).message.replace(/^error: /, '')}\n`);
    process.exitCode = EXIT_CANNOT_START;
    return EXIT_CANNOT_START;
  }

  let config: LbConfig;
  try {
    config = await loadConfig(opts.config);
  } catch (err) {
    if (cluster.isWorker) process.send?.({ type: 'failed', line: errorLine(err) } satisfies WorkerMessage);
    else io.stderr.write(`${errorLine(err)}\n`);
    process.exitCode = EXIT_CANNOT_START;
    return EXIT_CANNOT_START;
  }
  if (opts.check) {
    io.stdout.write(`reference-lb: ${opts.config}: config ok\n`);
    return EXIT_OK;
  }
  const workers = config.workers === 'auto' ? availableParallelism() : config.workers;
  const code = cluster.isWorker ? await runWorker(config, io) : workers > 1 ? await runPrimary(config, workers, io) : await runSingle(config, io);
  process.exitCode = code;
  return code;
}
