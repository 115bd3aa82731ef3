import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import pc from 'picocolors';
import { parseDurationMs } from '../harness/duration.ts';
import { exitOnCliFailure } from '../harness/cli-failure.ts';
import { REPO_ROOT } from '../harness/paths.ts';
import { TARGET_NAMES, type TargetName } from '../harness/targets/target-kind.ts';
import { BENCH_METRICS, DIRECT, type BenchMetric } from './bench-report.ts';
import { runBench } from './run-bench.ts';

/*
 * `npm run bench`: throughput of the reference LB against nginx and HAProxy (and Apache
 * with --targets), measured in one run on one machine and printed as ratios. Never part
 * of `npm test`. See bench/README.md.
 */

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 };

function parseSize(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new InvalidArgumentError(`expected a size like 1GiB, 256MiB or 1048576, got "${value}"`);
  const bytes = Math.round(Number(m[1]) * unit);
  if (bytes < 1024 * 1024 || bytes > 64 * 1024 ** 3) throw new InvalidArgumentError(`expected 1 MiB to 64 GiB, got "${value}"`);
  return bytes;
}

function parseDuration(min: number) {
  return (value: string): number => {
    const ms = parseDurationMs(value);
    if (ms === undefined) throw new InvalidArgumentError(`expected a duration like 10s or 500ms, got "${value}"`);
    if (ms < min) throw new InvalidArgumentError(`expected at least ${min} ms, got "${value}"`);
    return ms;
  };
}

function parseCount(max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) throw new InvalidArgumentError(`expected a whole number from 1 to ${max}, got "${value}"`);
    return Number(value);
  };
}

function parseList<T extends string>(allowed: readonly T[], what: string) {
  return (value: string): T[] => {
    const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
    for (const item of items) if (!(allowed as readonly string[]).includes(item)) throw new InvalidArgumentError(`unknown ${what} "${item}" (one of ${allowed.join(', ')})`);
    if (items.length === 0) throw new InvalidArgumentError(`expected a comma-separated list of ${allowed.join(', ')}`);
    return [...new Set(items)] as T[];
  };
}

function parseWorkers(value: string): string {
  if (value === 'auto' || /^([1-9]|[1-5]\d|6[0-4])$/.test(value)) return value;
  throw new InvalidArgumentError(`expected 1 to 64 or "auto", got "${value}"`);
}

function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}

const TARGET_CHOICES = [DIRECT, ...TARGET_NAMES] as const;

interface Flags {
  targets: Array<(typeof TARGET_CHOICES)[number]>;
  metrics: BenchMetric[];
  workers: string;
  connections: number;
  duration: number;
  warmup: number;
  blobSize: number;
  blobStreams: number;
  rounds: number;
  out?: string;
  gate?: boolean;
}

const program = new Command()
  .name('npm run bench --')
  .description('Throughput of the reference LB against nginx and HAProxy, same run, same machine, printed as ratios (bench/README.md).')
  .option('--targets <list>', `comma-separated, in table order: ${TARGET_CHOICES.join(', ')} (${DIRECT}: the client straight to the backends, the ceiling of this box)`, parseList(TARGET_CHOICES, 'target'), [DIRECT, 'reference', 'nginx', 'haproxy'])
  .option('--metrics <list>', `comma-separated: ${BENCH_METRICS.join(', ')}`, parseList(BENCH_METRICS, 'metric'), [...BENCH_METRICS])
  .option('--workers <n|auto>', 'processes/threads serving traffic on each LB: reference `workers`, nginx `worker_processes`, HAProxy `nbthread` (Apache keeps its MPM defaults); auto = one per core', parseWorkers, '1')
  .option('--connections <n>', 'keep-alive client connections for small requests', parseCount(4096), 64)
  .option('--duration <time>', 'measured time of each small-request cell', parseDuration(500), 10_000)
  .option('--warmup <time>', 'unmeasured warm-up before each small-request cell', parseDuration(0), 2_000)
  .option('--blob-size <size>', 'bytes per blob stream (KiB/MiB/GiB)', parseSize, 1024 ** 3)
  .option('--blob-streams <n>', 'concurrent blob streams, each on its own connection', parseCount(64), 2)
  .option('--rounds <n>', 'repeat every cell this often, targets in rotating order; tables show the median', parseCount(100), 3)
  .option('--out <file>', 'JSON report (default reports/bench-<timestamp>.json; configs and logs in the same path without .json)')
  .option('--gate', 'exit 1 when a target of the standard is not met (for an optional CI perf job)')
  .addHelpText(
    'after',
    `
Examples:
  npm run bench                                            # about 4 min: direct, reference, nginx, haproxy; 3 rounds
  npm run bench -- --duration 3s --warmup 1s --blob-size 256MiB --rounds 1   # a quick look
  npm run bench -- --targets reference,nginx,haproxy,apache --workers auto
  npm run bench -- --gate                                  # CI: exit 1 unless the reference LB meets the standard
  npm run bench -- --metrics small,wrk --targets reference,nginx   # the built-in load generator against wrk (apt-get install wrk)

Exit codes: 0 done (with --gate: every target met), 1 with --gate: a target not met, 2 could not run.`,
  )
  .exitOverride()
  .configureOutput({ writeErr: (text) => process.stderr.write(text) });

try {
  program.parse(process.argv);
  const flags = program.opts<Flags>();
  const workers = flags.workers === 'auto' ? availableParallelism() : Number(flags.workers);
  const outFile = resolve(flags.out ?? resolve(REPO_ROOT, 'reports', `bench-${timestamp(new Date())}.json`));
  const tty = process.stdout.isTTY === true;
  let statusShown = false;
  const outcome = await runBench({
    targets: flags.targets as Array<TargetName | typeof DIRECT>,
    metrics: BENCH_METRICS.filter((m) => flags.metrics.includes(m)),
    workers,
    workersFlag: flags.workers,
    connections: flags.connections,
    warmupMs: flags.warmup,
    durationMs: flags.duration,
    blobBytes: flags.blobSize,
    blobStreams: flags.blobStreams,
    rounds: flags.rounds,
    outFile,
    gate: flags.gate === true,
    log: (line) => {
      if (statusShown) process.stdout.write('\r\x1b[2K');
      statusShown = false;
      process.stdout.write(`${line}\n`);
    },
    ...(tty
      ? {
          status: (line: string) => {
            process.stdout.write(`\r\x1b[2K${pc.dim(line)}`);
            statusShown = line !== '';
          },
        }
      : {}),
  });
  // Stray sockets of aborted transfers must not keep the process alive.
  process.stdout.write('', () => process.exit(outcome.exitCode));
} catch (err) {
  exitOnCliFailure(err, 'bench');
}
