import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerEngine } from '../harness/container/container-engine.ts';
import { buildLocalImages, LOCAL_IMAGES } from '../harness/container/local-images.ts';
import type { RunReport } from '../harness/report/run-report.ts';
import { ROOT, runLbdrill } from './run-lbdrill.ts';

/*
 * Seed 001's game day end to end, as its README runs it: `docker compose up -d` brings up HAProxy
 * with the role's config in front of backend-api-1/2 (containers of lbdrill's backend, at the role's
 * addresses), then `lbdrill drill failover --deployment examples/seed-001/deployment.yaml` stops
 * backend-api-1 through its hook, watches HAProxy's stats socket, and starts it again.
 *
 * Expected before the first run, from the role's config (inter 5s fall 3 rise 2, slowstart 30s,
 * observe layer7 error-limit 10 on-error mark-down, redispatch) and the profile's budgets:
 * - detect (budget 20 s) passes: a stopped container's address goes silent, each request to it waits
 *   `timeout connect` 5 s and counts as an error; 10 of them mark it DOWN before the third failed check.
 * - no-errors-after-detect passes: once DOWN, every request goes to backend-api-2.
 * - rejoin (budget 15 s) passes: two checks 5 s apart after the start, plus up to one interval for
 *   where the start lands in the check cycle; slowstart sends it its first requests at once.
 * The native drill of the same config fails its victim the same way: `--network netns --fault
 * partition` drops every packet of backend-api-1's test host, as the stopped container's vanished
 * address does, at the deployment's probe rate. Expected: the same mechanism on both sides (connects
 * time out after 5 s, then error-limit or the third failed check marks it DOWN; two passing checks
 * 5 s apart bring it UP), so HAProxy's DOWN reports agree within one check interval (5 s, where the
 * fault lands in the check cycle) plus one poll of the deployed view (250 ms); UP see SAME_UP_WITHIN_MS.
 */
const SAME_WITHIN_MS = 5000 + 250;
/**
 * UP after the heal agrees within one check interval plus one check timeout (5 s: no `timeout check`,
 * so min(timeout connect, inter)) plus the poll: a check in flight at the heal whose SYN and its
 * retransmissions (1 s, 3 s) all fell inside the partition fails only at that timeout, and the two
 * passes start after it. Measured in a clean-clone CI run: deployed UP 5.8 s, native 11.2 s.
 */
const SAME_UP_WITHIN_MS = 5000 + 5000 + 250;

const PROJECT = 'lbdrill-seed001-e2e';

/** HAProxy's own DOWN and UP report times of the drill, from failover.detect-within-budget's evidence. */
function measurementOf(report: RunReport): { lbDownMs: number | null; lbUpMs: number | null } {
  const evidence = report.results.find((r) => r.check === 'failover.detect-within-budget')?.evidence as { measurement?: { lbDownMs: number | null; lbUpMs: number | null } } | undefined;
  if (!evidence?.measurement) throw new Error(`no failover measurement in the report: ${JSON.stringify(report.results.map((r) => r.check))}`);
  return { lbDownMs: evidence.measurement.lbDownMs, lbUpMs: evidence.measurement.lbUpMs };
}
const CONTAINERS = ['seed001-certs', 'backend-api-1', 'backend-api-2', 'stream-srv-1', 'stream-srv-2', 'seed001-haproxy'];

function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (err) => resolve({ code: -1, output: `${command}: ${err.message}` }));
    child.on('close', (code) => resolve({ code, output }));
  });
}

const compose = (...args: string[]) => run('docker-compose', ['-p', PROJECT, ...args]);

/** Polls HAProxy's stats page until both API servers are UP (the topology's steady state). */
async function bothApiServersUp(deadlineMs: number): Promise<string> {
  let last = '';
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    try {
      last = await (await fetch('http://127.0.0.1:8404/stats;csv')).text();
      const status = (server: string) => last.split('\n').find((l) => l.startsWith(`api_pool,${server},`))?.split(',')[17];
      if (status('backend-api-1') === 'UP' && status('backend-api-2') === 'UP') return last;
    } catch {
      // HAProxy not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the compose topology did not come up within ${deadlineMs / 1000} s: ${last.slice(0, 400)}`);
}

describe("seed 001's game day on the compose topology (Podman's Docker API)", () => {
  let engine: ContainerEngine;

  beforeAll(async () => {
    await buildLocalImages({ images: [LOCAL_IMAGES.node, LOCAL_IMAGES.haproxy], onProgress: () => undefined });
    // docker-compose and the hooks' `docker` talk to whatever DOCKER_HOST names: Podman's API here.
    engine = await ContainerEngine.start();
    const up = await compose('up', '-d');
    expect(up.code, up.output).toBe(0);
    await bothApiServersUp(60_000);
  }, 600_000);

  afterAll(async () => {
    const down = await compose('down', '--remove-orphans');
    const left = await run('docker', ['ps', '-a', '--format', '{{.Names}}']);
    await engine?.[Symbol.asyncDispose]();
    expect(down.code, down.output).toBe(0);
    expect(left.output.split('\n').filter((n) => CONTAINERS.includes(n))).toEqual([]);
  }, 120_000);

  let deployed: { lbDownMs: number | null; lbUpMs: number | null } | undefined;

  it('drill failover --deployment: the stop hook takes backend-api-1 out, HAProxy marks it DOWN, backend-api-2 serves, the start hook brings it back', async () => {
    const drill = await runLbdrill(['drill', 'failover', '--deployment', 'examples/seed-001/deployment.yaml']);
    const report = drill.report;
    expect(report, drill.stderr).toBeDefined();
    const verdicts = Object.fromEntries(report!.results.map((r) => [r.check, `${r.status}: ${r.observed}`]));
    expect(verdicts['failover.detect-within-budget'], drill.stdout).toMatch(/^pass: backend-api-1 out of rotation after .* \(the LB's own DOWN report\)/);
    expect(verdicts['failover.no-errors-after-detect']).toMatch(/^pass: 0 errors after detection/);
    expect(verdicts['failover.rejoin-within-budget']).toMatch(/^pass: backend-api-1 answered again/);
    expect(drill.code, drill.stdout).toBe(0);

    // every hook ran and was undone, each with its exit status
    const hooks = report!.deployment!.hooks.map((h) => `${h.hook} ${h.backend}: ${h.command} -> ${h.exitCode}`);
    expect(hooks).toEqual(['stop backend-api-1: docker stop backend-api-1 -> 0', 'start backend-api-1: docker start backend-api-1 -> 0']);

    // HAProxy's own view saw it DOWN, then UP again
    const timeline = JSON.parse(readFileSync(join(drill.reportDir, 'run', 'seed-001', 'failover-timeline.json'), 'utf8')) as {
      faultAtMs: number;
      undoAtMs: number;
      lbEvents: Array<{ server: string; state: string; atMs: number }>;
      samples: Array<{ sentAtMs: number; backend: string | null; status: number | null }>;
    };
    const downAt = timeline.lbEvents.find((e) => e.server === 'backend-api-1' && e.state === 'down')?.atMs;
    const upAt = timeline.lbEvents.find((e) => e.server === 'backend-api-1' && e.state === 'up' && e.atMs > timeline.undoAtMs)?.atMs;
    expect(downAt).toBeGreaterThan(timeline.faultAtMs);
    expect(upAt).toBeGreaterThan(timeline.undoAtMs);
    // the next requests after the DOWN (every one until the restart) were 200s from backend-api-2
    const between = timeline.samples.filter((s) => s.sentAtMs > downAt! && s.sentAtMs < timeline.undoAtMs);
    expect(between.length).toBeGreaterThan(0);
    expect(new Set(between.map((s) => `${s.status} ${s.backend}`))).toEqual(new Set(['200 backend-api-2']));
    deployed = measurementOf(report!);
  }, 300_000);

  it("agrees with the native drill of the same config, its victim's address gone silent (--network netns --fault partition)", async () => {
    expect(deployed, 'the deployed drill ran first').toBeDefined();
    const drill = await runLbdrill(['drill', 'failover', '--target', 'haproxy=fixtures/configs/haproxy-role/haproxy.cfg', '--network', 'netns', '--fault', 'partition', '--probe-rate', '20']);
    expect(drill.code, drill.stdout + drill.stderr).toBe(0);
    const native = measurementOf(drill.report!);
    const figures = { deployed, native };
    expect(native.lbDownMs, JSON.stringify(figures)).not.toBeNull();
    expect(native.lbUpMs, JSON.stringify(figures)).not.toBeNull();
    expect(Math.abs(native.lbDownMs! - deployed!.lbDownMs!), `DOWN after the fault: ${JSON.stringify(figures)}`).toBeLessThanOrEqual(SAME_WITHIN_MS);
    expect(Math.abs(native.lbUpMs! - deployed!.lbUpMs!), `UP after the restart: ${JSON.stringify(figures)}`).toBeLessThanOrEqual(SAME_UP_WITHIN_MS);
  }, 300_000);
});
