import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { nowMs } from '../harness/probe/probe-stream.ts';
import { HaproxySocketView } from '../harness/runtime/haproxy-socket-view.ts';
import { HaproxyStatsCsvView } from '../harness/runtime/haproxy-stats-csv-view.ts';
import type { PolledView } from '../harness/runtime/polled-view.ts';
import { PrometheusView } from '../harness/runtime/prometheus-view.ts';
import { ReferenceAdminView } from '../harness/runtime/reference-admin-view.ts';
import { ApacheBalancerView } from '../harness/runtime/apache-balancer-view.ts';
import { ROOT } from './run-lbdrill.ts';

/*
 * The deployed views against real LBs in front of the pool of examples/deployed-processes:
 * its HAProxy (socket, CSV stats, Prometheus), the reference LB (admin API) and Apache
 * (balancer-manager), each started here as a plain process. Run under flock /tmp/lbdrill-timing.lock.
 */
const EXAMPLE = join(ROOT, 'examples', 'deployed-processes');
const POOL = join(EXAMPLE, 'pool.sh');
const POLL_MS = 100;
/** HAProxy and the reference LB: fall 3 x inter 500 ms plus one interval; Apache: hcfails 3 x hcinterval 1 s plus one. */
const DOWN_WITHIN_MS = { fast: 2_000, apache: 4_000 };
const TOKEN_ENV = 'LBDRILL_TEST_REFERENCE_TOKEN';
const children: ChildProcess[] = [];

/** Starts an LB as a plain process and waits for its first line of output or its port. */
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

function pool(...args: string[]): void {
  execFileSync(POOL, args, { cwd: ROOT, encoding: 'utf8' });
}

beforeAll(async () => {
  pool('down');
  pool('up');
  process.env[TOKEN_ENV] = 'example-admin-token';
  await startLb(process.execPath, ['bin/lbdrill.mjs', 'lb', '--config', join(EXAMPLE, 'reference-lb.yaml')], answers('http://127.61.0.1:18085/api/v1/ping'));
  await startLb('apache2', ['-f', join(EXAMPLE, 'apache.conf'), '-DFOREGROUND'], answers('http://127.61.0.1:18095/balancer-manager'));
}, 60_000);
afterAll(async () => {
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(undefined) : (c.once('close', r), c.kill('SIGTERM'))))));
  pool('down');
});

describe.each([
  ['HAProxy stats socket', () => new HaproxySocketView('/tmp/lbdrill-deployed-processes/admin.sock', POLL_MS), DOWN_WITHIN_MS.fast],
  ['HAProxy CSV stats', () => new HaproxyStatsCsvView('http://127.61.0.1:18090/stats;csv', POLL_MS), DOWN_WITHIN_MS.fast],
  ['HAProxy Prometheus exporter', () => new PrometheusView('http://127.61.0.1:18091/metrics', POLL_MS), DOWN_WITHIN_MS.fast],
  ['reference LB admin API', () => new ReferenceAdminView('http://127.61.0.1:18086', TOKEN_ENV, POLL_MS), DOWN_WITHIN_MS.fast],
  ['Apache balancer-manager', () => new ApacheBalancerView('http://127.61.0.1:18095/balancer-manager', POLL_MS), DOWN_WITHIN_MS.apache],
])('%s view', (_name, make: () => PolledView, downWithinMs: number) => {
  test('reads both servers UP, then reports backend-api-1 DOWN and UP again as the process stops and starts', async () => {
    const view = make();
    try {
      const first = await view.start();
      expect(first.filter((s) => s.pool === 'api_pool').map((s) => `${s.server}:${s.state}`).sort()).toEqual(['backend-api-1:up', 'backend-api-2:up']);
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
      expect(view.events.map((e) => `${e.server}:${e.state}`)).toEqual(['backend-api-1:down', 'backend-api-1:up']);
    } finally {
      await view.close();
    }
  }, 30_000);
});

test('a view that does not answer fails its start with the LB\'s words', async () => {
  const view = new HaproxySocketView('/tmp/lbdrill-deployed-processes/no-such.sock', POLL_MS);
  await expect(view.start()).rejects.toThrow(/HAProxy stats socket \/tmp\/lbdrill-deployed-processes\/no-such.sock: connect ENOENT/);
  await view.close();
});
