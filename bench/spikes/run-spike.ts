import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../harness/paths.ts';
import { ManagedProcess } from '../../harness/process/managed-process.ts';
import { freePort } from '../../harness/runner/ports.ts';
import { TARGETS } from '../../harness/targets/registry.ts';
import type { TargetName } from '../../harness/targets/target-kind.ts';
import { CertificateAuthority } from '../../harness/tls/certificate-authority.ts';
import { BackendFleet } from '../backend-fleet.ts';
import { prepareBenchTarget, StartedBenchTarget, writeBenchConfig } from '../bench-target.ts';
import { runBlobTransfer } from '../load/blob-transfer.ts';
import { runSmallRequests } from '../load/small-requests.ts';
import { groupCpuMs } from '../process-cpu.ts';

/*
 * SPIKE runner: the bench's backends and loads, with the raw-socket spike proxy
 * (bench/spikes/raw-proxy.ts) measured next to nginx and the reference LB (started exactly
 * as `npm run bench` starts them: bench/configs, prepareTarget, same worker count), in one
 * run, targets rotated each round, medians printed.
 *
 *   node --import tsx bench/spikes/run-spike.ts [--targets spike,nginx,reference,direct]
 *        [--metrics small,download,upload] [--duration 10] [--warmup 2] [--rounds 3]
 *        [--blob-mib 1024] [--connections 64] [--spike-workers 1] [--workers 1]
 *
 * The target `spike2` is the spike with node:cluster and --spike-workers workers.
 * Output (JSON and logs) goes to a directory under the OS temp dir. Environment: SPIKE_READ_KIB
 * (upstream read size of the spike, see raw-proxy.ts), SPIKE_NODE_FLAGS (extra node flags for
 * the spike process, e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).
 */

type Metric = 'small' | 'download' | 'upload';

interface Args {
  targets: string[];
  metrics: Metric[];
  durationMs: number;
  warmupMs: number;
  rounds: number;
  blobBytes: number;
  connections: number;
  spikeWorkers: number;
  workers: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    targets: ['spike', 'nginx', 'reference'],
    metrics: ['small', 'download', 'upload'],
    durationMs: 10_000,
    warmupMs: 2_000,
    rounds: 3,
    blobBytes: 1024 ** 3,
    connections: 64,
    spikeWorkers: 2,
    workers: 1,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1] ?? '';
    switch (argv[i]) {
      case '--targets':
        a.targets = v.split(',');
        break;
      case '--metrics':
        a.metrics = v.split(',') as Metric[];
        break;
      case '--duration':
        a.durationMs = Number(v) * 1000;
        break;
      case '--warmup':
        a.warmupMs = Number(v) * 1000;
        break;
      case '--rounds':
        a.rounds = Number(v);
        break;
      case '--blob-mib':
        a.blobBytes = Number(v) * 1024 * 1024;
        break;
      case '--connections':
        a.connections = Number(v);
        break;
      case '--spike-workers':
        a.spikeWorkers = Number(v);
        break;
      case '--workers':
        a.workers = Number(v);
        break;
      default:
        throw new Error(`run-spike: unknown flag ${argv[i]}`);
    }
  }
  return a;
}

interface Started {
  name: string;
  origin: string;
  pid: number | undefined;
  stop: () => Promise<void>;
}

interface Cell {
  round: number;
  target: string;
  metric: Metric;
  value: number | null;
  lbCpuPct: number | null;
  backendsCpuPct: number;
  clientCpuPct: number;
  p50Ms?: number;
  p99Ms?: number;
  errors: number;
}

async function cpuProbe(lbPid: number | undefined, backendPids: readonly number[]) {
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

const MiB = 1024 * 1024;
const BLOB_WARMUP_BYTES = 64 * MiB;

async function runCell(a: Args, metric: Metric, round: number, t: Started | undefined, name: string, origins: string[], backendPids: number[]): Promise<Cell> {
  const base = { round, target: name, metric };
  if (metric === 'small') {
    let probe: ReturnType<typeof cpuProbe> | undefined;
    let share: Promise<{ lb: number | null; backends: number; client: number }> | undefined;
    const r = await runSmallRequests({
      origins,
      path: '/small',
      connections: a.connections,
      warmupMs: a.warmupMs,
      durationMs: a.durationMs,
      onWindow: (edge) => {
        if (edge === 'start') probe = cpuProbe(t?.pid, backendPids);
        else share = probe?.then((p) => p.end());
      },
    });
    const cpu = (await share)!;
    return { ...base, value: r.reqPerSec, lbCpuPct: cpu.lb, backendsCpuPct: cpu.backends, clientCpuPct: cpu.client, p50Ms: r.latencyMs.p50, p99Ms: r.latencyMs.p99, errors: r.errors };
  }
  const warm = await runBlobTransfer({ direction: metric, origins, streams: 2, bytesPerStream: Math.min(BLOB_WARMUP_BYTES, a.blobBytes) });
  if (warm.gibPerSec === null) return { ...base, value: null, lbCpuPct: null, backendsCpuPct: 0, clientCpuPct: 0, errors: warm.errors.length };
  const probe = await cpuProbe(t?.pid, backendPids);
  const blob = await runBlobTransfer({ direction: metric, origins, streams: 2, bytesPerStream: a.blobBytes });
  const cpu = await probe.end();
  if (blob.errors.length > 0) console.log(`  ${name} ${metric}: ${blob.errors.join('; ')}`);
  return { ...base, value: blob.gibPerSec, lbCpuPct: cpu.lb, backendsCpuPct: cpu.backends, clientCpuPct: cpu.client, errors: blob.errors.length };
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const dir = join(tmpdir(), `lbdrill-spike-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755);
  const lbNames = a.targets.filter((t): t is TargetName => t === 'nginx' || t === 'reference' || t === 'haproxy');
  const spikeNames = a.targets.filter((t) => t.startsWith('spike'));
  const ca = await CertificateAuthority.create();
  const prepared = [];
  let index = 0;
  for (const name of lbNames) {
    const version = await TARGETS[name].version();
    if (version === undefined) throw new Error(`${name} not installed`);
    const config = await writeBenchConfig(name, a.workers, dir);
    prepared.push(await prepareBenchTarget({ name, version, config, reportDir: dir, index: index++, ca }));
  }
  const slots: string[][] = [[], []];
  for (const p of prepared) p.backends.forEach((b, i) => slots[i]!.push(`${b.host}:${b.port}`));
  const spikeBackends: Record<string, string[]> = {};
  for (const s of spikeNames) {
    spikeBackends[s] = [];
    for (const slot of slots) {
      const addr = `127.0.0.1:${await freePort()}`;
      slot.push(addr);
      spikeBackends[s]!.push(addr);
    }
  }
  const directOrigins: string[] = [];
  for (const slot of slots) {
    const addr = `127.0.0.1:${await freePort()}`;
    slot.push(addr);
    directOrigins.push(`http://${addr}`);
  }

  const started: Started[] = [];
  let fleet: BackendFleet | undefined;
  const cells: Cell[] = [];
  try {
    fleet = await BackendFleet.start(slots, dir);
    for (const p of prepared) {
      const s = await StartedBenchTarget.start(p);
      started.push({ name: p.spec.name, origin: s.origin, pid: s.pid, stop: () => s[Symbol.asyncDispose]() });
    }
    for (const name of spikeNames) {
      const port = await freePort();
      const workers = name === 'spike' ? 1 : a.spikeWorkers;
      const proc = new ManagedProcess({
        command: process.execPath,
        args: [...(process.env.SPIKE_NODE_FLAGS ?? '').split(' ').filter(Boolean), '--import', 'tsx', join(REPO_ROOT, 'bench', 'spikes', 'raw-proxy.ts'), '--listen', `127.0.0.1:${port}`, ...spikeBackends[name]!.flatMap((b) => ['--backend', b]), '--workers', String(workers)],
        cwd: REPO_ROOT,
        label: name,
        logFile: join(dir, `${name}.log`),
      });
      started.push({ name, origin: `http://127.0.0.1:${port}`, pid: proc.pid, stop: () => proc.stop() });
      await proc.waitForLine((l) => l.includes('"event":"ready"'), 15_000);
    }
    const order0 = a.targets;
    for (let round = 1; round <= a.rounds; round++) {
      const shift = (round - 1) % order0.length;
      const order = [...order0.slice(shift), ...order0.slice(0, shift)];
      for (const metric of a.metrics) {
        for (const name of order) {
          const t = started.find((s) => s.name === name);
          const origins = name === 'direct' ? directOrigins : [t!.origin];
          const cell = await runCell(a, metric, round, t, name, origins, fleet.pids);
          fleet.assertRunning();
          cells.push(cell);
          const v = cell.value === null ? 'FAILED' : metric === 'small' ? `${Math.round(cell.value)} req/s p50 ${cell.p50Ms} p99 ${cell.p99Ms}` : `${cell.value.toFixed(2)} GiB/s`;
          console.log(`[${round}/${a.rounds}] ${metric.padEnd(8)} ${name.padEnd(9)} ${v}  errors ${cell.errors}  CPU LB ${cell.lbCpuPct}% backends ${cell.backendsCpuPct}% client ${cell.clientCpuPct}%`);
          await new Promise((r) => setTimeout(r, 300));
        }
      }
    }
  } finally {
    await Promise.allSettled(started.map((s) => s.stop()));
    await fleet?.[Symbol.asyncDispose]();
  }

  console.log('');
  for (const metric of a.metrics) {
    const nginx = median(cells.filter((c) => c.target === 'nginx' && c.metric === metric && c.value !== null).map((c) => c.value!));
    console.log(metric === 'small' ? 'small: target | req/s | x nginx | CPU LB % | CPU µs/req | p50 ms | p99 ms' : `${metric}: target | GiB/s | x nginx | CPU LB % | LB cores per GiB/s`);
    for (const name of a.targets) {
      const cs = cells.filter((c) => c.target === name && c.metric === metric && c.value !== null);
      const v = median(cs.map((c) => c.value!));
      const cpu = median(cs.map((c) => c.lbCpuPct ?? 0));
      if (v === null || cpu === null) {
        console.log(`  ${name}: no value`);
        continue;
      }
      const ratio = nginx ? (v / nginx).toFixed(2) : '-';
      if (metric === 'small') {
        const usPerReq = ((cpu / 100) * 1e6) / v;
        console.log(`  ${name.padEnd(9)} | ${Math.round(v)} | ${ratio} | ${cpu} | ${usPerReq.toFixed(1)} | ${median(cs.map((c) => c.p50Ms!))} | ${median(cs.map((c) => c.p99Ms!))}`);
      } else {
        console.log(`  ${name.padEnd(9)} | ${v.toFixed(2)} | ${ratio} | ${cpu} | ${(cpu / 100 / v).toFixed(2)}`);
      }
    }
  }
  await writeFile(join(dir, 'spike-report.json'), `${JSON.stringify({ args: a, cells }, null, 2)}\n`);
  console.log(`\nreport: ${join(dir, 'spike-report.json')}`);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(2);
  },
);
