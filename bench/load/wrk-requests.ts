import { join } from 'node:path';
import { LbdrillError } from '../../harness/errors.ts';
import { ManagedProcess } from '../../harness/process/managed-process.ts';
import { groupCpuMs } from '../process-cpu.ts';
import type { SmallRequestResult } from './small-requests.ts';

/** How wrk drives a small-request cell: the same request, connections and window as the built-in generator. */
export interface WrkOptions {
  /** wrk(1) on PATH, or a path. */
  bin: string;
  origin: string;
  path: string;
  connections: number;
  durationMs: number;
}

/** What one wrk run measured, and the CPU wrk itself used (% of one core). */
export interface WrkResult {
  small: SmallRequestResult;
  clientCpu: number;
}

const REPORT_SCRIPT = join(import.meta.dirname, 'wrk-report.lua');
/** How often wrk's CPU time is read while it runs: /proc/<pid> is gone once it exits. */
const CPU_POLL_MS = 250;

interface WrkSummary {
  requests: number;
  durationUs: number;
  errors: { connect: number; read: number; write: number; timeout: number; status: number };
  latencyUs: { p50: number; p90: number; p99: number; max: number; mean: number };
}

/**
 * One thread, `connections` keep-alive connections, GET `path` for `durationMs` (whole
 * seconds: wrk's -d has no finer unit). One client thread, like the built-in generator's
 * one event loop, so both take the same share of the cores the LB also needs.
 */
export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const seconds = Math.max(1, Math.round(options.durationMs / 1000));
  const wrk = new ManagedProcess({
    command: options.bin,
    args: ['-t1', `-c${options.connections}`, `-d${seconds}s`, '-H', 'user-agent: lbdrill-bench', '-s', REPORT_SCRIPT, `${options.origin}${options.path}`],
    label: 'wrk',
  });
  const lines: string[] = [];
  wrk.on('line', (line: string) => lines.push(line));
  const started = performance.now();
  let cpuMs = 0;
  let cpuAtMs = 0;
  const poll = setInterval(() => {
    void groupCpuMs([wrk.pid!]).then((m) => {
      const used = m.get(wrk.pid!) ?? 0;
      if (used >= cpuMs) {
        cpuMs = used;
        cpuAtMs = performance.now() - started;
      }
    });
  }, CPU_POLL_MS);
  try {
    await wrk.exited();
  } finally {
    clearInterval(poll);
    await wrk.stop();
  }
  const json = lines.find((l) => l.startsWith('{"requests"'));
  if (wrk.exitCode !== 0 || json === undefined) {
    throw new LbdrillError('LBDRILL_ERR_BACKEND', `wrk exited ${wrk.exitCode ?? wrk.exitSignal}: ${wrk.tail(3).join(' | ') || 'no output'}`);
  }
  const s = JSON.parse(json) as WrkSummary;
  const ms = (us: number): number => Math.round(us) / 1000;
  const socketErrors = s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout;
  const errorKinds: Record<string, number> = Object.fromEntries(Object.entries(s.errors).filter(([, n]) => n > 0));
  return {
    small: {
      durationMs: Math.round(s.durationUs / 1000),
      // wrk counts every completed response; non-2xx/3xx ones are its `status` errors, which the built-in generator does not count as requests either
      requests: s.requests - s.errors.status,
      reqPerSec: (s.requests - s.errors.status) / (s.durationUs / 1e6),
      latencyMs: { p50: ms(s.latencyUs.p50), p90: ms(s.latencyUs.p90), p99: ms(s.latencyUs.p99), max: ms(s.latencyUs.max), mean: ms(s.latencyUs.mean) },
      errors: socketErrors + s.errors.status,
      errorKinds,
    },
    clientCpu: cpuAtMs > 0 ? Number(((cpuMs / cpuAtMs) * 100).toFixed(1)) : 0,
  };
}
