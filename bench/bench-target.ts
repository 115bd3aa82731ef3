import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LbdrillError } from '../harness/errors.ts';
import { REPO_ROOT } from '../harness/paths.ts';
import type { LbProcess } from '../harness/process/lb-process.ts';
import { prepareTarget, type PreparedTarget } from '../harness/runner/prepare-target.ts';
import { waitForPorts } from '../harness/runner/ports.ts';
import { TARGETS } from '../harness/targets/registry.ts';
import type { TargetName } from '../harness/targets/target-kind.ts';
import type { CertificateAuthority } from '../harness/tls/certificate-authority.ts';

/** The bench's own configs, one per target kind, named as the kinds' bundled configs are. */
export const BENCH_CONFIG_DIR = join(REPO_ROOT, 'bench', 'configs');
const START_TIMEOUT_MS = 15_000;

/** How each kind's config says how many processes or threads serve traffic. */
const WORKER_SETTINGS: Record<TargetName, { pattern: RegExp; render: (n: number) => string } | undefined> = {
  reference: { pattern: /^workers:[ \t]*\S+/m, render: (n) => `workers: ${n}` },
  nginx: { pattern: /^([ \t]*)worker_processes[ \t]+[^;\s]+;/m, render: (n) => `worker_processes ${n};` },
  haproxy: { pattern: /^([ \t]*)nbthread[ \t]+\S+/m, render: (n) => `nbthread ${n}` },
  // mpm_event runs processes × threads from Debian's mpm_event.conf: no single knob to compare.
  apache: undefined,
};

/** A bench config with its worker setting, ready for lbdrill's config mapping. */
export interface BenchConfig {
  /** the bench config as committed (bench/configs/...). */
  source: string;
  /** the copy lbdrill maps and runs, with the worker setting applied. */
  file: string;
  /** what serves traffic, as the config now says it ("worker_processes 1"). */
  workers: string;
}

/** Writes `configs/<file>` under `dir`: the bench config with its worker count set to `workers`. */
export async function writeBenchConfig(name: TargetName, workers: number, dir: string): Promise<BenchConfig> {
  const kind = TARGETS[name];
  const source = join(BENCH_CONFIG_DIR, kind.bundledConfigName);
  let text = await readFile(source, 'utf8');
  const setting = WORKER_SETTINGS[name];
  let described = "mpm_event with Debian's defaults (--workers does not apply)";
  if (setting !== undefined) {
    const match = setting.pattern.exec(text);
    if (!match) throw new LbdrillError('LBDRILL_ERR_CONFIG_PARSE', `${source}: no ${setting.render(1).split(' ')[0]} line for --workers to set`);
    described = setting.render(workers).replace(/;$/, '');
    text = text.replace(setting.pattern, `${match[1] ?? ''}${setting.render(workers)}`);
  }
  await mkdir(join(dir, 'configs'), { recursive: true });
  const file = join(dir, 'configs', kind.bundledConfigName);
  await writeFile(file, text);
  return { source, file, workers: described };
}

/** Maps a bench config onto loopback and has the proxy check it, exactly as `lbdrill run` does. */
export async function prepareBenchTarget(options: {
  name: TargetName;
  version: string;
  config: BenchConfig;
  reportDir: string;
  index: number;
  ca: CertificateAuthority;
}): Promise<PreparedTarget> {
  const kind = TARGETS[options.name];
  return prepareTarget({
    kind,
    version: options.version,
    spec: { name: options.name },
    configFile: options.config.file,
    runDir: join(options.reportDir, options.name),
    index: options.index,
    ca: options.ca,
  });
}

/** A load balancer running in front of the bench backends. */
export class StartedBenchTarget implements AsyncDisposable {
  readonly name: TargetName;
  readonly process: LbProcess;
  /** `http://127.0.0.1:PORT`, the LB's listener. */
  readonly origin: string;

  private constructor(name: TargetName, process: LbProcess, origin: string) {
    this.name = name;
    this.process = process;
    this.origin = origin;
  }

  /** Starts the prepared LB and waits until it serves (its ready line, or its port accepting). */
  static async start(prepared: PreparedTarget): Promise<StartedBenchTarget> {
    const endpoint = prepared.endpoints[0];
    if (endpoint === undefined) throw new LbdrillError('LBDRILL_ERR_TARGET_START', `${prepared.target.sourceFile} has no listener`);
    const proc = prepared.kind.spawn(prepared.target);
    try {
      if (prepared.kind.waitReady) await prepared.kind.waitReady(proc, prepared.target);
      else await waitForPorts(proc, [endpoint.port], START_TIMEOUT_MS);
    } catch (err) {
      await proc.stop();
      throw err;
    }
    return new StartedBenchTarget(prepared.spec.name, proc, `http://${endpoint.host}:${endpoint.port}`);
  }

  /** The process group id (the LB and every worker it forks), for CPU accounting. */
  get pid(): number | undefined {
    return this.process.pid;
  }

  /** Why the LB is no longer running, or undefined while it is. */
  get crashed(): string | undefined {
    if (this.process.running) return undefined;
    return `${this.process.label} exited (code ${this.process.exitCode}, signal ${this.process.exitSignal}): ${this.process.tail(3).join(' | ')}`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.process.stop();
  }
}
