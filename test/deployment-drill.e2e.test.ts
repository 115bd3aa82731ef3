import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { FailoverMeasurement } from '../harness/probe/failover-timeline.ts';
import { nowMs } from '../harness/probe/probe-stream.ts';
import { ApacheBalancerView } from '../harness/targets/apache/apache-balancer-view.ts';
import { HaproxySocketView } from '../harness/targets/haproxy/haproxy-socket-view.ts';
import { HaproxyStatsCsvView } from '../harness/targets/haproxy/haproxy-stats-csv-view.ts';
import type { PolledView } from '../harness/runtime/polled-view.ts';
import { PrometheusView } from '../harness/runtime/prometheus-view.ts';
import { ReferenceAdminView } from '../harness/targets/reference/reference-admin-view.ts';
import type { RunReport } from '../harness/report/run-report.ts';
import { ROOT, runLbdrill } from './run-lbdrill.ts';
import { expectReportHtmlWorks } from './report-html-browser.ts';

/*
 * The pool of examples/deployed-processes, started OUTSIDE lbdrill as plain processes
 * (pool.sh up: two fixture backends and a real HAProxy with check inter 500ms fall 3 rise 2),
 * drilled through hooks that are real shell commands, and read through every view lbdrill
 * has: HAProxy's socket, CSV stats and Prometheus exporter, and the same backends behind the
 * reference LB (admin API) and Apache (balancer-manager). One file: they share the pool.
 * Run under `flock /tmp/lbdrill-timing.lock`: the figures are timings.
 */
const EXAMPLE = join(ROOT, 'examples', 'deployed-processes');
const POOL = join(EXAMPLE, 'pool.sh');
const STATE = '/tmp/lbdrill-deployed-processes';
/** HAProxy's check interval in the example config, and the deployment view's poll interval. */
const CHECK_INTER_MS = 500;
const POLL_MS = 250;
/** The deployed drill's DOWN/UP times may differ from the native drill's by where the stop lands in the check cycle (one interval) plus the poll. */
const TOLERANCE_MS = CHECK_INTER_MS + POLL_MS;
const scratch = mkdtempSync(join(tmpdir(), 'lbdrill-deployment-'));

const VIEW_POLL_MS = 100;
/** HAProxy and the reference LB: fall 3 x inter 500 ms plus one interval; Apache: hcfails 3 x hcinterval 1 s plus one. */
const DOWN_WITHIN_MS = { fast: 2_000, apache: 4_000 };
/** How long an LB may take to bring a just-restarted server back before a view test starts (rise 2 checks at 500 ms, Apache's retry). */
const STEADY_WITHIN_MS = 10_000;
const TOKEN_ENV = 'LBDRILL_TEST_REFERENCE_TOKEN';
const children: ChildProcess[] = [];

/** Starts an LB as a plain process (stopped after the views' tests) and waits until `ready`. */
async function startLb(command: string, args: string[], ready: () => Promise<boolean>): Promise<void> {
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${command} exited ${child.exitCode}: ${output}`);
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${command} not ready within 15 s: ${output}`);
}

const answers = (url: string) => async () => fetch(url).then((r) => r.ok, () => false);

function pool(...args: string[]): string {
  return execFileSync(POOL, args, { cwd: ROOT, encoding: 'utf8' });
}

function backendRuns(name: string): boolean {
  const pidFile = join(STATE, `${name}.pid`);
  if (!existsSync(pidFile)) return false;
  try {
    process.kill(Number(readFileSync(pidFile, 'utf8')), 0);
    return true;
  } catch {
    return false;
  }
}

/** The example deployment file with `change` applied, written to a temp file. */
function deploymentVariant(name: string, change: (d: any) => void): string {
  const d = parseYaml(readFileSync(join(EXAMPLE, 'deployment.yaml'), 'utf8'));
  change(d);
  const file = join(scratch, `${name}.yaml`);
  writeFileSync(file, stringify(d));
  return file;
}

function measurement(report: RunReport | undefined, target: string): FailoverMeasurement {
  const r = report?.results.find((x) => x.target === target && x.check === 'failover.detect-within-budget');
  expect(r, 'detect-within-budget result').toBeDefined();
  return r!.evidence['measurement'] as FailoverMeasurement;
}

beforeAll(() => {
  pool('down');
  pool('up');
}, 60_000);

afterAll(() => {
  pool('down');
  // the example pool's own state (pid files, logs, HAProxy's socket): a test leaves nothing in /tmp
  rmSync(STATE, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

describe('drill failover --deployment on a pool lbdrill did not start', () => {
  let deployed: FailoverMeasurement;

  test('the drill passes through stop/start hooks, with detection and rejoin from HAProxy stats socket, every hook in the report', async () => {
    const run = await runLbdrill(['drill', 'failover', '--deployment', join(EXAMPLE, 'deployment.yaml')]);
    expect(run.stderr).not.toMatch(/internal error/);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    deployed = measurement(run.report, 'deployed-processes');
    expect(deployed.lbDownMs).not.toBeNull();
    expect(deployed.detectSource).toBe('lb-event');
    expect(deployed.lbUpMs).not.toBeNull();
    expect(deployed.errorsAfterDetect).toBe(0);
    // fall 3 x inter 500 ms: DOWN after 1..1.5 s of failed checks, seen at the next poll
    expect(deployed.lbDownMs!).toBeGreaterThanOrEqual(2 * CHECK_INTER_MS);
    expect(deployed.lbDownMs!).toBeLessThanOrEqual(3 * CHECK_INTER_MS + TOLERANCE_MS + 2_500);
    const hooks = run.report!.deployment!.hooks;
    expect(hooks.map((h) => `${h.hook} ${h.backend} ${h.exitCode}`)).toEqual(['stop backend-api-1 0', 'start backend-api-1 0']);
    expect(hooks[0]!.durationMs).toBeGreaterThan(0);
    expect(run.report!.deployment!.probeRatePerSec).toBeLessThanOrEqual(50);
    expect(readFileSync(join(run.reportDir, 'summary.md'), 'utf8')).toMatch(/\| stop \(fault\) \| backend-api-1 \| `examples\/deployed-processes\/pool.sh stop backend-api-1` \| 0 \|/);
    expect((await expectReportHtmlWorks(run.reportDir, 'drill-failover-deployed')).find((c) => c.id === 'failover-latency')!.datasets.map((d) => d.label)).toEqual(['deployed-processes']);
    expect(backendRuns('backend-api-1')).toBe(true);
  }, 170_000);

  test(`agrees with the native drill of the same HAProxy config within ±${TOLERANCE_MS} ms (one check interval + one poll)`, async () => {
    const run = await runLbdrill(['drill', 'failover', '--target', `haproxy=${join(EXAMPLE, 'haproxy.cfg')}`]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const native = measurement(run.report, 'haproxy');
    expect(native.lbDownMs).not.toBeNull();
    // the figures, for the CI log
    console.info(`DOWN after stop: deployed ${deployed.lbDownMs} ms, native ${native.lbDownMs} ms; rejoin: deployed ${deployed.rejoinMs} ms, native ${native.rejoinMs} ms; LB UP: deployed ${deployed.lbUpMs} ms, native ${native.lbUpMs} ms`);
    expect(Math.abs(deployed.lbDownMs! - native.lbDownMs!), `deployed DOWN ${deployed.lbDownMs} ms, native ${native.lbDownMs} ms`).toBeLessThanOrEqual(TOLERANCE_MS);
    // rejoin: the deployed start hook returns once the backend listens; both then wait rise 2 x inter
    expect(Math.abs(deployed.rejoinMs! - native.rejoinMs!), `deployed rejoin ${deployed.rejoinMs} ms, native ${native.rejoinMs} ms`).toBeLessThanOrEqual(TOLERANCE_MS);
  }, 170_000);

  test('--dry-run prints the plan and the exact commands and runs nothing', async () => {
    const marker = join(scratch, 'dry-run-ran');
    const file = deploymentVariant('dry-run', (d) => (d.backends[0].hooks.stop = `touch ${marker}`));
    const run = await runLbdrill(['drill', 'failover', '--deployment', file, '--dry-run']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`1. stop backend-api-1:  touch ${marker}`);
    expect(run.stdout).toContain('2. start backend-api-1: examples/deployed-processes/pool.sh start backend-api-1');
    expect(run.stdout).toMatch(/probe: +GET \/api\/v1\/ping at 20 req\/s \(cap 50 req\/s\)/);
    expect(run.stdout).toMatch(/victim: +backend-api-1/);
    expect(run.stdout).toMatch(/budgets: +detect 20 s/);
    expect(existsSync(marker)).toBe(false);
    expect(run.report).toBeUndefined();
  });

  test('a failing hook stops the drill with its output, exit 2, and what ran is undone', async () => {
    const file = deploymentVariant('failing-hook', (d) => (d.backends[0].hooks.stop = 'examples/deployed-processes/pool.sh stop backend-api-1 && echo "simulated: the host refused" >&2 && exit 7'));
    const run = await runLbdrill(['drill', 'failover', '--deployment', file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/hook stop of backend-api-1 failed \(exit 7\): .*simulated: the host refused/);
    const hooks = run.report!.deployment!.hooks;
    expect(hooks.map((h) => `${h.hook}:${h.exitCode}:${h.purpose}`)).toEqual(['stop:7:fault', 'start:0:undo']);
    expect(backendRuns('backend-api-1')).toBe(true);
  }, 170_000);

  /** Starts the drill as a user does and resolves once its stop hook took backend-api-1 down. */
  async function drillUntilStopped(file: string): Promise<{ child: ReturnType<typeof spawn>; exited: Promise<unknown>; stderr: () => string }> {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'lbdrill.mjs'), 'drill', 'failover', '--deployment', file, '--report-dir', mkdtempSync(join(scratch, 'report-'))], {
      cwd: ROOT,
      env: { ...process.env, CI: 'true', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise((r) => child.on('close', r));
    const deadline = Date.now() + 60_000;
    while (backendRuns('backend-api-1') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(backendRuns('backend-api-1'), stderr).toBe(false);
    return { child, exited, stderr: () => stderr };
  }

  test('Ctrl-C mid-drill undoes the stop hook before lbdrill exits', async () => {
    const { child, exited, stderr } = await drillUntilStopped(deploymentVariant('interrupted', () => undefined));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr()).toMatch(/SIGINT received, stopping everything it started/);
    expect(backendRuns('backend-api-1')).toBe(true);
  }, 120_000);

  test('after a SIGKILL of lbdrill mid-drill, the next run finds the hook journal, runs the undo and says so', async () => {
    const file = deploymentVariant('killed', () => undefined);
    // killed once the stop hook ran: backend-api-1 is down and only the journal knows it
    const { child, exited } = await drillUntilStopped(file);
    child.kill('SIGKILL');
    await exited;
    expect(backendRuns('backend-api-1')).toBe(false);
    const run = await runLbdrill(['drill', 'failover', '--deployment', file]);
    expect(run.stderr).toMatch(/found the hook journal of an earlier run \(pid \d+, .*killed\.yaml\) that ended without undoing 1 hook\(s\): undoing them now/);
    expect(run.stderr).toMatch(/start backend-api-1 \(after its stop\): examples\/deployed-processes\/pool.sh start backend-api-1 -> exit 0/);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(backendRuns('backend-api-1')).toBe(true);
  }, 170_000);
});

describe('the LB views of a deployed pool, against the real LBs', () => {
  beforeAll(async () => {
    process.env[TOKEN_ENV] = 'example-admin-token';
    await startLb(process.execPath, ['bin/lbdrill.mjs', 'lb', '--config', join(EXAMPLE, 'reference-lb.yaml')], answers('http://127.61.0.1:18085/api/v1/ping'));
    await startLb('apache2', ['-f', join(EXAMPLE, 'apache.conf'), '-DFOREGROUND'], answers('http://127.61.0.1:18095/balancer-manager'));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(undefined) : (c.once('close', r), c.kill('SIGTERM'))))));
  });

  describe.each([
    ['HAProxy stats socket', () => new HaproxySocketView('/tmp/lbdrill-deployed-processes/admin.sock', VIEW_POLL_MS), DOWN_WITHIN_MS.fast],
    ['HAProxy CSV stats', () => new HaproxyStatsCsvView('http://127.61.0.1:18090/stats;csv', VIEW_POLL_MS), DOWN_WITHIN_MS.fast],
    ['HAProxy Prometheus exporter', () => new PrometheusView('http://127.61.0.1:18091/metrics', VIEW_POLL_MS), DOWN_WITHIN_MS.fast],
    ['reference LB admin API', () => new ReferenceAdminView('http://127.61.0.1:18086', TOKEN_ENV, VIEW_POLL_MS), DOWN_WITHIN_MS.fast],
    ['Apache balancer-manager', () => new ApacheBalancerView('http://127.61.0.1:18095/balancer-manager', VIEW_POLL_MS), DOWN_WITHIN_MS.apache],
  ])('%s view', (_name, make: () => PolledView, downWithinMs: number) => {
    test('reads both servers UP, then reports backend-api-1 DOWN and UP again as the process stops and starts', async () => {
      const view = make();
      try {
        // Steady state first: the earlier tests restarted backend-api-1, and this LB's own checks
        // (rise 2) may not have brought it back yet; the view's own poll reports when they have.
        const first = await view.start();
        for (const server of ['backend-api-1', 'backend-api-2']) {
          if (first.find((s) => s.pool === 'api_pool' && s.server === server)?.state !== 'up') {
            expect(await view.waitForState('api_pool', server, 'up', 0, STEADY_WITHIN_MS), `${server} never came up in ${view.title}`).toBeDefined();
          }
        }
        const stoppedAt = nowMs();
        pool('stop', 'backend-api-1');
        // pool.sh stop returns once the process is gone; the LB may have seen it die before
        const down = await view.waitForState('api_pool', 'backend-api-1', 'down', stoppedAt, downWithinMs + 2_000);
        expect(down, view.lastError).toBeDefined();
        expect(down!.atMs - stoppedAt).toBeLessThanOrEqual(downWithinMs + 2_000);
        const startedAt = nowMs();
        pool('start', 'backend-api-1');
        const up = await view.waitForState('api_pool', 'backend-api-1', 'up', startedAt, downWithinMs);
        expect(up, view.lastError).toBeDefined();
        expect(view.events.filter((e) => e.atMs >= stoppedAt).map((e) => `${e.server}:${e.state}`)).toEqual(['backend-api-1:down', 'backend-api-1:up']);
      } finally {
        await view.close();
      }
    }, 30_000);
  });

  test('a view that does not answer fails its start with the LB\'s words', async () => {
    const view = new HaproxySocketView('/tmp/lbdrill-deployed-processes/no-such.sock', VIEW_POLL_MS);
    await expect(view.start()).rejects.toThrow(/HAProxy stats socket \/tmp\/lbdrill-deployed-processes\/no-such.sock: connect ENOENT/);
    await view.close();
  });
});
