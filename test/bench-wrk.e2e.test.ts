import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWrk } from '../bench/load/wrk-requests.ts';
import { findOnPath } from '../harness/process/find-on-path.ts';

/** The bench's wrk cell (bench/load/wrk-requests.ts) against a real server: wrk from apt, its report read back. */
describe('bench: wrk cell', () => {
  let server: Server;
  let origin: string;
  let status = 200;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': '2' });
      res.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const bin = findOnPath('wrk') ?? 'wrk (apt-get install wrk)';

  it('measures req/s, latency and the client CPU of wrk', async () => {
    status = 200;
    const { small, clientCpu } = await runWrk({ bin, origin, path: '/small', connections: 4, durationMs: 1000 });
    expect(small.requests).toBeGreaterThan(100);
    expect(small.errors).toBe(0);
    expect(Math.abs(small.reqPerSec - small.requests / (small.durationMs / 1000)) / small.reqPerSec).toBeLessThan(0.01);
    expect(small.latencyMs.p50).toBeGreaterThan(0);
    expect(small.latencyMs.p99).toBeGreaterThanOrEqual(small.latencyMs.p50);
    expect(clientCpu).toBeGreaterThan(0);
  });

  it('counts non-2xx answers as errors, not requests', async () => {
    status = 503;
    const { small } = await runWrk({ bin, origin, path: '/small', connections: 2, durationMs: 1000 });
    expect(small.requests).toBe(0);
    expect(small.errors).toBeGreaterThan(100);
    expect(small.errorKinds['status']).toBe(small.errors);
  });
});
