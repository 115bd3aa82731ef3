import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DrillProblem } from '../checks/check.ts';
import { ManagedProcess } from '../process/managed-process.ts';
import type { K6Plan } from './k6-plan.ts';
import { readK6Summary, type K6LoadSummary } from './k6-summary.ts';
import { K6_ENV, renderK6Script } from './render-k6-script.ts';

/** Where k6 sends the plan's traffic: the LB's URL, the name it answers to, the CA it is signed by. */
export interface K6Target {
  /** `https://lb.example:8443`; the host part is what TLS verifies and Host carries. */
  url: string;
  /** `name=address` pairs for k6's hosts option, when the URL's name is not in DNS. */
  resolve?: string;
  /** PEM file of the CA the LB's certificate is signed by (SSL_CERT_FILE: k6 is a Go program). */
  caFile?: string;
}

/** A k6 run as the report keeps it: the summary and where the script, summary and log are. */
export interface K6LoadRun extends K6LoadSummary {
  /** 0, or 99 when a threshold was crossed (k6's documented exit codes). */
  exitCode: number;
  script: string;
  summaryFile: string;
  log: string;
}

/** k6 exits 99 when a threshold was crossed: the run itself went fine. */
const K6_THRESHOLDS_CROSSED = 99;

/**
 * Runs the plan's script on the k6 binary `bin` against `target` and reads the summary it
 * exports. The files go to `dir` (k6-<name>.ts, .summary.json, .log); k6 is stopped when
 * `signal` aborts, and on any way out of this function.
 */
export async function runK6(options: { bin: string; plan: K6Plan; target: K6Target; dir: string; name: string; signal: AbortSignal }): Promise<K6LoadRun> {
  const script = join(options.dir, `k6-${options.name}.ts`);
  const summaryFile = join(options.dir, `k6-${options.name}.summary.json`);
  const log = join(options.dir, `k6-${options.name}.log`);
  await writeFile(script, renderK6Script(options.plan));
  const k6 = new ManagedProcess({
    command: options.bin,
    args: ['run', '--quiet', '--no-color', '--summary-export', summaryFile, script],
    label: 'k6',
    logFile: log,
    env: {
      ...process.env,
      [K6_ENV.url]: options.target.url,
      ...(options.target.resolve ? { [K6_ENV.resolve]: options.target.resolve } : {}),
      ...(options.target.caFile ? { SSL_CERT_FILE: options.target.caFile } : {}),
      K6_NO_USAGE_REPORT: 'true',
    },
  });
  const abort = (): void => void k6.stop();
  options.signal.addEventListener('abort', abort, { once: true });
  try {
    await k6.exited();
  } finally {
    options.signal.removeEventListener('abort', abort);
    await k6.stop();
  }
  if (k6.exitCode !== 0 && k6.exitCode !== K6_THRESHOLDS_CROSSED) {
    throw new DrillProblem(`k6 exited ${k6.exitCode ?? k6.exitSignal}: ${k6.tail(2).join(' | ') || `see ${log}`}`);
  }
  return { ...(await readK6Summary(summaryFile)), exitCode: k6.exitCode, script, summaryFile, log };
}
