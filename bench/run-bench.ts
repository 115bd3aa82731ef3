import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { arch, availableParallelism, cpus, loadavg, release } from 'node:os';
import { relative } from 'node:path';
import { LBDRILL_VERSION, REPO_ROOT } from '../harness/paths.ts';
import type { PreparedTarget } from '../harness/runner/prepare-target.ts';
import { freePort } from '../harness/runner/ports.ts';
import { TARGETS } from '../harness/targets/registry.ts';
import type { TargetName } from '../harness/targets/target-kind.ts';
import { CertificateAuthority } from '../harness/tls/certificate-authority.ts';
import { LbdrillError } from '../harness/errors.ts';
import { BackendFleet } from './backend-fleet.ts';
import { DIRECT, judgeGenerator, judgeStandards, renderTables, summarize, type BenchCell, type BenchMetric, type CpuShare, type GeneratorVerdict } from './bench-report.ts';
import { prepareBenchTarget, StartedBenchTarget, writeBenchConfig, type BenchConfig } from './bench-target.ts';
import { runBlobTransfer } from './load/blob-transfer.ts';
import { runSmallRequests } from './load/small-requests.ts';
import { runWrk } from './load/wrk-requests.ts';
import { findOnPath } from '../harness/process/find-on-path.ts';
import { groupCpuMs } from './process-cpu.ts';

/** What `npm run bench` was asked to do (validated by bench/cli.ts). */
export interface BenchOptions {
  /** `direct` (the baseline without LB) and load balancers, in table order. */
  targets: Array<TargetName | typeof DIRECT>;
  metrics: BenchMetric[];
  /** processes/threads serving traffic on every LB that has the knob. */
  workers: number;
  workersFlag: string;
  connections: number;
  warmupMs: number;
  durationMs: number;
  blobBytes: number;
  blobStreams: number;
  rounds: number;
  /** the JSON report; run directories (rendered configs, logs) go next to it, without `.json`. */
  outFile: string;
  gate: boolean;
  /** progress and result lines. */
  log: (line: string) => void;
  /** a status line that the next one replaces (on a terminal), or undefined to skip them. */
  status?: (line: string) => void;
}

/** Exit code and where the report went. */
export interface BenchOutcome {
  exitCode: number;
  outFile: string;
}

const MiB = 1024 * 1024;
/** Warm-up transfer per stream before each blob cell: connections, JIT and buffers settled. */
const BLOB_WARMUP_BYTES = 64 * MiB;
/** Pause between cells so one cell's tail (closing sockets, GC) does not bleed into the next. */
const SETTLE_MS = 300;

function sizeText(bytes: number): string {
  if (bytes % (1024 * MiB) === 0) return `${bytes / (1024 * MiB)} GiB`;
  if (bytes % MiB === 0) return `${bytes / MiB} MiB`;
  return `${bytes} B`;
}

function machine(): Record<string, unknown> {
  const list = cpus();
  return {
    cores: availableParallelism(),
    cpuModel: list[0]?.model ?? 'unknown',
    arch: arch(),
    kernel: release(),
    node: process.version,
    loadavgAtStart: loadavg().map((x) => Number(x.toFixed(2))),
  };
}

/** Samples CPU time of the LB, the backends and this process; `end()` turns it into % of one core. */
async function cpuProbe(lbPid: number | undefined, backendPids: readonly number[]): Promise<{ end(): Promise<CpuShare> }> {
  const groups = lbPid === undefined ? [...backendPids] : [lbPid, ...backendPids];
  const before = await groupCpuMs(groups);
  const clientBefore = process.cpuUsage();
  const t0 = performance.now();
  return {
    async end() {
      const wallMs = performance.now() - t0;
      const client = process.cpuUsage(clientBefore);
      const after = await groupCpuMs(groups);
      const used = (pid: number): number => (after.get(pid) ?? 0) - (before.get(pid) ?? 0);
      const pct = (ms: number): number => Number(((ms / wallMs) * 100).toFixed(1));
      return {
        lb: lbPid === undefined ? null : pct(used(lbPid)),
        backends: pct(backendPids.reduce((n, pid) => n + used(pid), 0)),
        client: pct((client.user + client.system) / 1000),
      };
    },
  };
}

interface TargetEntry {
  name: TargetName | typeof DIRECT;
  version: string;
  status: 'ran' | 'skipped' | 'crashed';
  reason?: string;
  config?: BenchConfig;
  prepared?: PreparedTarget;
  started?: StartedBenchTarget;
}

/**
 * The whole bench: every target's config mapped and checked, one backend process per
 * upstream slot, every LB started side by side (idle ones cost nothing), then rounds of
 * cells (small requests, download, upload) with the targets in rotating order, so that
 * drift on a shared machine spreads evenly. Everything is stopped at the end, whatever
 * happens; Ctrl-C is handled by harness/process/cleanup.ts.
 */
export async function runBench(options: BenchOptions): Promise<BenchOutcome> {
  const { log } = options;
  const startedAt = new Date();
  const t0 = performance.now();
  const reportDir = options.outFile.replace(/\.json$/, '');
  await mkdir(reportDir, { recursive: true });
  // Proxy workers drop to an unprivileged user: the run dirs must be traversable by them.
  await chmod(reportDir, 0o755);
  const box = machine();
  const wrkBin = options.metrics.includes('wrk') ? findOnPath('wrk') : undefined;
  if (options.metrics.includes('wrk') && wrkBin === undefined) {
    throw new LbdrillError('LBDRILL_ERR_BINARY_MISSING', 'wrk not found on PATH (apt-get install wrk), or leave it out: --metrics small,download,upload');
  }

  const entries: TargetEntry[] = [];
  for (const name of options.targets) {
    if (name === DIRECT) {
      entries.push({ name, version: 'node:http backends, no LB', status: 'ran' });
      continue;
    }
    const kind = TARGETS[name];
    const version = await kind.version();
    if (version === undefined) entries.push({ name, version: 'not installed', status: 'skipped', reason: `${name} is not installed (apt-get install ${kind.aptPackage})` });
    else entries.push({ name, version, status: 'ran', config: await writeBenchConfig(name, options.workers, reportDir) });
  }
  const lbs = entries.filter((e) => e.name !== DIRECT && e.status === 'ran');
  for (const e of entries.filter((x) => x.status === 'skipped')) log(`${e.name}: skipped, ${e.reason}`);
  if (lbs.length === 0) throw new LbdrillError('LBDRILL_ERR_BINARY_MISSING', 'no load balancer to measure (see the skipped targets above)');

  const ca = await CertificateAuthority.create();
  let index = 0;
  for (const e of lbs) {
    e.prepared = await prepareBenchTarget({ name: e.name as TargetName, version: e.version, config: e.config!, reportDir, index: index++, ca });
  }
  // One backend process per upstream slot, listening on that slot's address of every target.
  const slotCount = Math.max(2, ...lbs.map((e) => e.prepared!.backends.length));
  const slots: string[][] = Array.from({ length: slotCount }, () => []);
  for (const e of lbs) e.prepared!.backends.forEach((b, i) => slots[i]!.push(`${b.host}:${b.port}`));
  // The direct baseline gets its own address on each slot.
  const directOrigins: string[] = [];
  for (const slot of slots) {
    const address = `127.0.0.1:${await freePort()}`;
    slot.push(address);
    directOrigins.push(`http://${address}`);
  }

  const cells: BenchCell[] = [];
  let fleet: BackendFleet | undefined;
  try {
    log(`starting ${slots.length} backend processes and ${lbs.map((e) => e.version).join(', ') || 'no LB'}`);
    fleet = await BackendFleet.start(slots, reportDir);
    for (const e of lbs) e.started = await StartedBenchTarget.start(e.prepared!);
    const backendPids = fleet.pids;

    const runnable = entries.filter((e) => e.status === 'ran');
    for (let round = 1; round <= options.rounds; round++) {
      // Rotate the order each round: no target is always first after a pause or last in a phase.
      const shift = (round - 1) % runnable.length;
      const order = [...runnable.slice(shift), ...runnable.slice(0, shift)];
      // wrk's cell runs right beside the same target's built-in one (which of the two first alternates
      // by round): a side-by-side ratio, not one skewed by whatever else the shared box did in between
      const paired = options.metrics.includes('small') && options.metrics.includes('wrk');
      for (const metric of options.metrics) {
        if (metric === 'wrk' && paired) continue;
        for (const e of order) {
          const steps: BenchMetric[] = metric === 'small' && paired ? (round % 2 === 1 ? ['small', 'wrk'] : ['wrk', 'small']) : [metric];
          for (const step of steps) {
            if (e.status !== 'ran') continue;
            // wrk takes one URL: the direct baseline spreads over both backends, so it has no wrk cell
            if (step === 'wrk' && !e.started) continue;
            const label = `[round ${round}/${options.rounds}] ${step.padEnd(8)} ${e.name.padEnd(9)}`;
            const origins = e.started ? [e.started.origin] : directOrigins;
            const cell = await runCell({ options, wrkBin, metric: step, round, target: e.name, origins, lbPid: e.started?.pid, backendPids, label });
            fleet.assertRunning();
            const crashed = e.started?.crashed;
            if (crashed) {
              e.status = 'crashed';
              e.reason = crashed;
              cell.error ??= crashed;
              log(`${e.name}: ${crashed}; no further cells for it`);
            }
            cells.push(cell);
            log(`${label} ${describeCell(cell)}`);
            await new Promise((r) => setTimeout(r, SETTLE_MS));
          }
        }
      }
    }
  } finally {
    options.status?.('');
    await Promise.allSettled(lbs.map((e) => e.started?.[Symbol.asyncDispose]()));
    await fleet?.[Symbol.asyncDispose]();
  }

  const names = entries.filter((e) => e.status !== 'skipped').map((e) => e.name);
  const summary = summarize(cells, names, options.metrics);
  const standards = judgeStandards(summary, options.metrics);
  const generator = judgeGenerator(summary, names);
  const cores = availableParallelism();
  const captions: Record<BenchMetric, string> = {
    small: `Small requests: GET of a 128-byte response over ${options.connections} keep-alive connections, ${options.durationMs / 1000} s after a ${options.warmupMs / 1000} s warm-up; median of ${options.rounds} round(s)`,
    wrk: `Small requests driven by wrk (1 thread): the same GET over ${options.connections} keep-alive connections, ${Math.max(1, Math.round(options.durationMs / 1000))} s after a ${Math.round(options.warmupMs / 1000)} s warm-up run; median of ${options.rounds} round(s)`,
    download: `Blob download: ${options.blobStreams} stream(s) × ${sizeText(options.blobBytes)} from the backends through the LB; median of ${options.rounds} round(s)`,
    upload: `Blob upload: ${options.blobStreams} stream(s) × ${sizeText(options.blobBytes)} PUT through the LB to backends that count and discard; median of ${options.rounds} round(s)`,
  };
  const workersLine = lbs.map((e) => `${e.name}: ${e.config!.workers}`).join(', ');
  const conditions = [
    `Machine: ${cores} core(s) (${String(box.cpuModel)}), node ${process.version}. The load generator (1 process), the ${slots.length} backend processes and the LB under test share these ${cores} core(s):`,
    'absolute numbers say little about a production box; the ratios, measured in the same run under the same conditions, are what matter.',
    `Workers (--workers ${options.workersFlag}): ${workersLine}. CPU columns: % of one core during the measured window.`,
  ];
  const exitCode = gateExitCode(options.gate, standards, generator);
  const report = {
    tool: 'lbdrill-bench',
    version: LBDRILL_VERSION,
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - t0),
    machine: box,
    conditions: conditions.join(' '),
    options: {
      targets: options.targets,
      metrics: options.metrics,
      workers: options.workersFlag,
      workersResolved: options.workers,
      connections: options.connections,
      warmupMs: options.warmupMs,
      durationMs: options.durationMs,
      blobBytes: options.blobBytes,
      blobStreams: options.blobStreams,
      rounds: options.rounds,
      gate: options.gate,
    },
    targets: entries.map((e) => ({
      name: e.name,
      version: e.version,
      status: e.status,
      ...(e.reason ? { reason: e.reason } : {}),
      ...(e.config ? { workers: e.config.workers, source: relative(REPO_ROOT, e.config.source), config: relative(REPO_ROOT, e.config.file), rendered: e.prepared ? relative(REPO_ROOT, e.prepared.target.mainFile) : null } : {}),
      ...(e.prepared ? { mapped: e.prepared.mapped } : {}),
    })),
    summary,
    standards,
    generator,
    cells,
    exitCode,
  };
  await writeFile(options.outFile, `${JSON.stringify(report, null, 2)}\n`);

  log('');
  log(conditions.join('\n'));
  log('');
  log(renderTables({ summary, standards, generator, targets: names, metrics: options.metrics, captions }));
  log('');
  log(`report: ${relative(process.cwd(), options.outFile)} (configs and logs: ${relative(process.cwd(), reportDir)}/)`);
  if (options.gate) log(exitCode === 0 ? 'gate: every target of the standard met' : 'gate: a target of the standard was not met (or not measured): exit 1');
  return { exitCode, outFile: options.outFile };
}

function gateExitCode(gate: boolean, standards: ReturnType<typeof judgeStandards>, generator: readonly GeneratorVerdict[]): number {
  if (!gate) return 0;
  if (standards.length === 0 && generator.length === 0) throw new LbdrillError('LBDRILL_ERR_USAGE', '--gate needs at least one metric with a standard');
  return [...standards, ...generator].every((s) => s.met === true) ? 0 : 1;
}

function describeCell(cell: BenchCell): string {
  if (cell.error !== undefined && cell.small === undefined && cell.blob === undefined) return `error: ${cell.error}`;
  const cpu = cell.cpu ? `  (CPU LB ${cell.cpu.lb ?? '–'}%, backends ${cell.cpu.backends}%, client ${cell.cpu.client}%)` : '';
  if (cell.small) {
    const s = cell.small;
    const errors = s.errors > 0 ? `, ${s.errors} errors (${Object.entries(s.errorKinds).map(([k, n]) => `${k}: ${n}`).join(', ')})` : '';
    return `${Math.round(s.reqPerSec).toLocaleString('en-US')} req/s, p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms${errors}${cpu}`;
  }
  if (cell.blob) {
    const b = cell.blob;
    if (b.gibPerSec === null) return `failed: ${b.errors.join('; ')}`;
    return `${b.gibPerSec.toFixed(2)} GiB/s (${sizeText(b.bytes)} in ${(b.durationMs / 1000).toFixed(2)} s)${cpu}`;
  }
  return '';
}

async function runCell(c: {
  options: BenchOptions;
  wrkBin: string | undefined;
  metric: BenchMetric;
  round: number;
  target: string;
  origins: string[];
  lbPid: number | undefined;
  backendPids: number[];
  label: string;
}): Promise<BenchCell> {
  const { options, metric, label } = c;
  const base = { round: c.round, target: c.target, metric };
  const status = options.status;
  try {
    if (metric === 'wrk') {
      const wrk = (durationMs: number) => runWrk({ bin: c.wrkBin!, origin: c.origins[0]!, path: '/small', connections: options.connections, durationMs });
      status?.(`${label} warm-up`);
      if (options.warmupMs >= 500) await wrk(options.warmupMs);
      status?.(`${label} measuring`);
      const probe = await cpuProbe(c.lbPid, c.backendPids);
      const run = await wrk(options.durationMs);
      const cpu = await probe.end();
      return { ...base, small: run.small, cpu: { ...cpu, client: run.clientCpu } };
    }
    if (metric === 'small') {
      let probe: Promise<{ end(): Promise<CpuShare> }> | undefined;
      let share: Promise<CpuShare> | undefined;
      const measureStart = options.warmupMs;
      const small = await runSmallRequests({
        origins: c.origins,
        path: '/small',
        connections: options.connections,
        warmupMs: options.warmupMs,
        durationMs: options.durationMs,
        onWindow: (edge) => {
          if (edge === 'start') probe = cpuProbe(c.lbPid, c.backendPids);
          else share = probe?.then((p) => p.end());
        },
        onProgress: (p) => {
          const t = Math.max(0, Math.round((p.elapsedMs - measureStart) / 1000));
          status?.(`${label} ${p.phase === 'warm-up' ? 'warm-up' : `${t}/${options.durationMs / 1000} s`}  ${p.reqPerSec.toLocaleString('en-US')} req/s${p.errors ? `, ${p.errors} errors` : ''}`);
        },
      });
      const cpu = await share;
      return { ...base, small, ...(cpu ? { cpu } : {}) };
    }
    const transfer = (bytesPerStream: number, measured: boolean) =>
      runBlobTransfer({
        direction: metric,
        origins: c.origins,
        streams: options.blobStreams,
        bytesPerStream,
        onProgress: (p) =>
          status?.(`${label} ${measured ? '' : 'warm-up '}${(p.bytesPerSec / 1024 ** 3).toFixed(2)} GiB/s, ${Math.round((100 * p.doneBytes) / p.totalBytes)}%`),
      });
    const warm = await transfer(Math.min(BLOB_WARMUP_BYTES, options.blobBytes), false);
    if (warm.gibPerSec === null) return { ...base, blob: warm, error: `warm-up failed: ${warm.errors.join('; ')}` };
    const probe = await cpuProbe(c.lbPid, c.backendPids);
    const blob = await transfer(options.blobBytes, true);
    const cpu = await probe.end();
    return { ...base, blob, cpu, ...(blob.gibPerSec === null ? { error: blob.errors.join('; ') } : {}) };
  } catch (err) {
    return { ...base, error: (err as Error).message };
  } finally {
    status?.('');
  }
}
