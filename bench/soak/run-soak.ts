import 'disposablestack/AsyncDisposableStack/auto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { payloadSha256, payloadSlice } from '../../fixtures/backend/index.ts';
import { FaultController, type FaultSpec } from '../../harness/faults/fault-controller.ts';
import type { FaultSite } from '../../harness/faults/fault.ts';
import { seededRandom } from '../../harness/faults/seeded-random.ts';
import { REPO_ROOT } from '../../harness/paths.ts';
import { trackTempDir } from '../../harness/process/cleanup.ts';
import { ManagedProcess } from '../../harness/process/managed-process.ts';
import { freePort } from '../../harness/runner/ports.ts';
import { startProxiedBackend } from '../../harness/runner/proxied-backend.ts';
import { IdempotentClient, MAX_ATTEMPTS, sha256, type SoakTally } from './idempotent-client.ts';

/** The bundled config the soak runs: /api/ to two servers, the rest to one, pooled upstream connections. */
export const SOAK_CONFIG = join(REPO_ROOT, 'fixtures', 'configs', 'http-hardening', 'reference.yaml');
/** RSS growth allowed from the end of warm-up to the end of the run. */
export const RSS_GROWTH_BOUND_BYTES = 32 * 1024 * 1024;
/** Warm-up before the RSS baseline: a minute, or a fifth of a shorter run. */
const WARMUP_MS = 60_000;
const RSS_SAMPLE_MS = 5000;
/** Samples averaged for the baseline and for the end value, so one GC cycle does not decide. */
const RSS_SAMPLES_AVERAGED = 3;
const PROBE_RATE_PER_SEC = 20;
const UPLOAD_BYTES = 512 * 1024;
const DOWNLOAD_BYTES = 4 * 1024 * 1024;
/** Quiet time before each fault, then the fault holds for a seeded time in this range. */
const FAULT_QUIET_MS = 5000;
const FAULT_HOLD_MS = { min: 5000, max: 15_000 };
const PROGRESS_MS = 30_000;
const READY_TIMEOUT_MS = 20_000;

/** The faults drawn from, one at a time, with attributes that stay within the config's timeouts. */
const FAULT_MENU: readonly FaultSpec[] = [
  { type: 'stop' },
  { type: 'crash' },
  { type: 'hang' },
  { type: 'slow', attributes: { delayMs: 2000, jitterMs: 500 } },
  { type: 'errors', attributes: { rate: 0.5, status: 503 } },
  { type: 'latency', attributes: { latencyMs: 200, jitterMs: 100 } },
  { type: 'bandwidth', attributes: { rateKbps: 4000 } },
  { type: 'reset_peer', attributes: { timeoutMs: 0 }, toxicity: 0.5 },
  { type: 'timeout', attributes: { timeoutMs: 0 } },
  { type: 'slicer', attributes: { averageSizeBytes: 256, sizeVariationBytes: 128, delayUs: 100 } },
  { type: 'limit_data', attributes: { bytes: 200_000 } },
  { type: 'slow_close', attributes: { delayMs: 1000 } },
];

/** What a soak run measured. */
export interface SoakResult {
  durationMs: number;
  tally: SoakTally;
  faults: string[];
  /** [ms since start, RSS bytes] of the LB process. */
  rss: Array<[number, number]>;
  baselineRssBytes: number;
  endRssBytes: number;
  growthBytes: number;
  /** Every bound that was broken, one line each; empty when the soak passed. */
  failures: string[];
}

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!kb) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb[1]) * 1024;
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
}

/** Bytes as MiB with one decimal. */
export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * Runs the reference LB with the http-hardening config in front of lbdrill's backends
 * (each behind its TCP fault proxy) for `durationMs`: probe GETs at PROBE_RATE_PER_SEC
 * and a blob loop (PUT UPLOAD_BYTES, GET DOWNLOAD_BYTES, both verified by sha256) run
 * throughout while seeded faults from lbdrill's fault library hit one backend at a time,
 * each undone before the next; the LB's RSS is sampled every RSS_SAMPLE_MS.
 */
export async function runSoak(options: { durationMs: number; seed: number; signal: AbortSignal; progress: (line: string) => void }): Promise<SoakResult> {
  const { durationMs, seed, signal, progress } = options;
  await using stack = new AsyncDisposableStack();
  const dir = await mkdtemp(join(tmpdir(), 'lbdrill-soak-'));
  // On Ctrl-C lbdrill's signal handler kills the LB and exits before this stack unwinds: it removes tracked dirs too.
  const untrack = trackTempDir(dir);
  stack.defer(async () => {
    await rm(dir, { recursive: true, force: true });
    untrack();
  });

  const config = parse(await readFile(SOAK_CONFIG, 'utf8')) as {
    upstreams: Record<string, { servers: Array<{ address: string }> }>;
    listeners: Array<{ bind: string }>;
  };
  const sites: FaultSite[] = [];
  for (const [name, upstream] of Object.entries(config.upstreams)) {
    for (const [i, server] of upstream.servers.entries()) {
      const id = `${name}-${i + 1}`;
      const { backend, proxy } = await startProxiedBackend({ id, host: '127.0.0.1', port: await freePort('127.0.0.1'), healthPaths: ['/health'], seed });
      stack.use(backend);
      stack.use(proxy);
      server.address = `127.0.0.1:${proxy.port}`;
      sites.push({ name: id, backend, fixture: backend, proxy });
    }
  }
  for (const listener of config.listeners) listener.bind = '127.0.0.1:0';
  const configFile = join(dir, 'reference.yaml');
  await writeFile(configFile, stringify(config));

  const lb = new ManagedProcess({
    command: process.execPath,
    args: ['--import', 'tsx', join(REPO_ROOT, 'reference-lb', 'src', 'main.ts'), '--config', configFile],
    cwd: REPO_ROOT,
    label: 'reference-lb',
    logFile: join(dir, 'reference-lb.log'),
  });
  stack.defer(() => lb.stop());
  const ready = JSON.parse(await lb.waitForLine((line) => line.includes('"event":"ready"'), READY_TIMEOUT_MS)) as { listeners: Array<{ port: number }> };
  const pid = lb.pid;
  if (pid === undefined) throw new Error('reference-lb has no pid');
  const client = stack.use(new IdempotentClient(`http://127.0.0.1:${ready.listeners[0]!.port}`));
  progress(`reference-lb pid ${pid} on port ${ready.listeners[0]!.port}, backends ${sites.map((s) => `${s.name}=${s.proxy!.port}`).join(' ')}, seed ${seed}, ${Math.round(durationMs / 1000)} s`);

  const started = performance.now();
  const elapsed = (): number => performance.now() - started;
  const done = (): boolean => signal.aborted || elapsed() >= durationMs;
  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const onAbort = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, Math.min(ms, durationMs - elapsed())));
      signal.addEventListener('abort', onAbort, { once: true });
    });
  const inFlight = new Set<Promise<void>>();
  const track = (p: Promise<void>): void => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  // Probe traffic: idempotent GETs to both pools at a fixed rate, never waiting on each other.
  let probes = 0;
  const probeTimer = setInterval(() => {
    if (done()) return;
    const n = ++probes;
    track(client.send({ method: 'GET', path: n % 2 === 0 ? `/api/probe/${n}` : `/probe/${n}` }));
  }, 1000 / PROBE_RATE_PER_SEC);

  // Blob traffic: uploads to api_pool, downloads from web_pool, each verified end to end.
  const upload = payloadSlice(0, UPLOAD_BYTES, seed);
  const uploadSha = sha256(upload);
  const downloadSha = await payloadSha256(DOWNLOAD_BYTES, seed);
  const blobLoop = (async () => {
    for (let n = 1; !done(); n++) {
      await client.send({ method: 'PUT', path: `/api/blob/${n}`, body: upload, verify: (b) => (JSON.parse(b.toString('utf8')) as { bodySha256?: string }).bodySha256 === uploadSha });
      if (done()) break;
      await client.send({ method: 'GET', path: `/blob/${n}`, headers: { 'x-lbdrill-download': String(DOWNLOAD_BYTES), 'x-lbdrill-seed': String(seed) }, verify: (b) => sha256(b) === downloadSha });
    }
  })();

  // RSS of the LB process.
  const rss: Array<[number, number]> = [];
  const sample = async (): Promise<void> => {
    rss.push([Math.round(elapsed()), await rssBytes(pid)]);
  };
  await sample();
  const rssTimer = setInterval(() => void sample().catch(() => undefined), RSS_SAMPLE_MS);
  const progressTimer = setInterval(() => {
    const t = client.tally;
    progress(
      `${Math.round(elapsed() / 1000)} s: answered ${t.answered} (after a retry ${t.retriedToAnswer}), lost ${t.lost}, corrupt ${t.corrupt}, in flight ${inFlight.size}, statuses ${[...t.statuses].map(([s, c]) => `${s}x${c}`).join(' ')}, RSS ${mib(rss.at(-1)?.[1] ?? 0)}`,
    );
  }, PROGRESS_MS);

  // Faults: seeded, one at a time on one backend, each undone before the next.
  const random = seededRandom('soak', seed);
  const faults = new FaultController({ seed, signal });
  const applied: string[] = [];
  try {
    while (!done()) {
      await pause(FAULT_QUIET_MS);
      if (done()) break;
      const spec = FAULT_MENU[Math.floor(random() * FAULT_MENU.length)]!;
      const site = sites[Math.floor(random() * sites.length)]!;
      const holdMs = Math.round(FAULT_HOLD_MS.min + random() * (FAULT_HOLD_MS.max - FAULT_HOLD_MS.min));
      const fault = await faults.apply(spec, site);
      const line = `${fault.description} for ${holdMs} ms`;
      applied.push(`${Math.round(elapsed() / 1000)} s: ${line}`);
      progress(`${Math.round(elapsed() / 1000)} s: fault ${line}`);
      await pause(holdMs);
      await fault.undo();
    }
  } finally {
    await faults.undoAll();
    clearInterval(probeTimer);
    await blobLoop;
    // Requests still out were sent before the end: they are counted when they finish.
    await Promise.all([...inFlight]);
    clearInterval(rssTimer);
    clearInterval(progressTimer);
  }
  await sample();

  const durationActualMs = elapsed();
  const warmupMs = Math.min(WARMUP_MS, durationActualMs / 5);
  const afterWarmup = rss.filter(([t]) => t >= warmupMs).map(([, b]) => b);
  const baselineRssBytes = mean(afterWarmup.slice(0, RSS_SAMPLES_AVERAGED));
  const endRssBytes = mean(afterWarmup.slice(-RSS_SAMPLES_AVERAGED));
  const growthBytes = endRssBytes - baselineRssBytes;
  const tally = client.tally;
  const failures: string[] = [];
  if (tally.lost > 0) failures.push(`${tally.lost} idempotent request(s) lost (no answer in ${MAX_ATTEMPTS} attempts), e.g. ${tally.lostSamples.join(', ')}`);
  if (tally.corrupt > 0) failures.push(`${tally.corrupt} 200 response(s) with a wrong body`);
  if (growthBytes >= RSS_GROWTH_BOUND_BYTES) failures.push(`LB RSS grew ${mib(growthBytes)} after warm-up (bound ${mib(RSS_GROWTH_BOUND_BYTES)})`);
  if (!lb.running) failures.push(`reference-lb exited during the soak: ${lb.tail(3).join(' | ')}`);
  return { durationMs: durationActualMs, tally, faults: applied, rss, baselineRssBytes, endRssBytes, growthBytes, failures };
}
