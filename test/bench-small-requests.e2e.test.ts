import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSmallRequests } from '../bench/load/small-requests.ts';

/** The bench's built-in generator (bench/load/small-requests.ts) against a real node:http server. */
describe('bench: built-in small-request generator', () => {
  let server: Server;
  let origin: string;
  let answer: (res: ServerResponse) => void = () => undefined;
  const seen = { userAgent: '', requests: 0 };
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.userAgent = req.headers['user-agent'] ?? '';
      seen.requests++;
      answer(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const run = () => runSmallRequests({ origins: [origin], path: '/small', connections: 4, warmupMs: 200, durationMs: 800 });

  it('counts 200 answers with a Content-Length over keep-alive connections', async () => {
    answer = (res) => res.writeHead(200, { 'content-length': '128' }).end('x'.repeat(128));
    const r = await run();
    expect(r.requests).toBeGreaterThan(100);
    expect(r.errors).toBe(0);
    expect(r.latencyMs.p50).toBeGreaterThan(0);
    expect(seen.userAgent).toBe('lbdrill-bench');
  });

  it('reads chunked answers to their last chunk', async () => {
    answer = (res) => {
      res.writeHead(200);
      res.write('a'.repeat(100));
      res.end('b'.repeat(28));
    };
    const r = await run();
    expect(r.requests).toBeGreaterThan(100);
    expect(r.errors).toBe(0);
  });

  it('counts other statuses as errors by status, and reconnects after Connection: close', async () => {
    answer = (res) => res.writeHead(503, { 'content-length': '2', connection: 'close' }).end('no');
    const r = await run();
    expect(r.requests).toBe(0);
    expect(r.errors).toBeGreaterThan(50);
    expect(Object.keys(r.errorKinds)).toEqual(['status 503']);
  });

  it('counts refused connections as errors and does not spin', async () => {
    const closed = await new Promise<string>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as AddressInfo).port;
        s.close(() => resolve(`http://127.0.0.1:${port}`));
      });
    });
    const r = await runSmallRequests({ origins: [closed], path: '/small', connections: 2, warmupMs: 0, durationMs: 300 });
    expect(r.requests).toBe(0);
    expect(r.errorKinds['ECONNREFUSED']).toBeGreaterThan(0);
  });
});
