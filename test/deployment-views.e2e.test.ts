import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { nowMs } from '../harness/probe/probe-stream.ts';
import { HaproxySocketView } from '../harness/runtime/haproxy-socket-view.ts';
import { HaproxyStatsCsvView } from '../harness/runtime/haproxy-stats-csv-view.ts';
import type { PolledView } from '../harness/runtime/polled-view.ts';
import { ROOT } from './run-lbdrill.ts';

/* The deployed views against the real HAProxy of examples/deployed-processes (run under flock /tmp/lbdrill-timing.lock). */
const POOL = join(ROOT, 'examples', 'deployed-processes', 'pool.sh');
const POLL_MS = 100;
/** fall 3 x inter 500 ms, plus one interval and the poll. */
const DOWN_WITHIN_MS = 2_500;

function pool(...args: string[]): void {
  execFileSync(POOL, args, { cwd: ROOT, encoding: 'utf8' });
}

beforeAll(() => {
  pool('down');
  pool('up');
}, 60_000);
afterAll(() => pool('down'));

describe.each([
  ['HAProxy stats socket', () => new HaproxySocketView('/tmp/lbdrill-deployed-processes/admin.sock', POLL_MS)],
  ['HAProxy CSV stats', () => new HaproxyStatsCsvView('http://127.61.0.1:18090/stats;csv', POLL_MS)],
])('%s view', (_name, make: () => PolledView) => {
  test('reads both servers UP, then reports backend-api-1 DOWN and UP again as the process stops and starts', async () => {
    const view = make();
    try {
      const first = await view.start();
      expect(first.filter((s) => s.pool === 'api_pool').map((s) => `${s.server}:${s.state}`).sort()).toEqual(['backend-api-1:up', 'backend-api-2:up']);
      const stoppedAt = nowMs();
      pool('stop', 'backend-api-1');
      const down = await view.waitForState('api_pool', 'backend-api-1', 'down', stoppedAt, DOWN_WITHIN_MS + 2_000);
      expect(down, view.lastError).toBeDefined();
      expect(down!.atMs - stoppedAt).toBeLessThanOrEqual(DOWN_WITHIN_MS + 2_000);
      const startedAt = nowMs();
      pool('start', 'backend-api-1');
      const up = await view.waitForState('api_pool', 'backend-api-1', 'up', startedAt, 3_000);
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
