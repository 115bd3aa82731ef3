import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ActiveHealthCheck, compileExpectStatus, probeServer, type CheckResult } from './active-health-check.ts';
import { deadAddress, rawHeader, startTestUpstream, type TestUpstream } from './test-upstream.ts';
import { UpstreamServer } from './upstream-server.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function upstream(handler: http.RequestListener): Promise<TestUpstream> {
  const u = await startTestUpstream(handler);
  cleanups.push(() => u.close());
  return u;
}

const twoXxThreeXx = compileExpectStatus(['2xx', '3xx']);

describe('compileExpectStatus', () => {
  it('matches classes and exact statuses', () => {
    const m = compileExpectStatus(['2xx', 404]);
    expect([200, 299, 404].map(m)).toEqual([true, true, true]);
    expect([199, 300, 403, 503, 700].map(m)).toEqual([false, false, false, false, false]);
  });
});

describe('probeServer', () => {
  it('passes on 2xx and sends GET path with Host = the server address', async () => {
    const up = await upstream((_req, res) => res.end('ok'));
    const result = await probeServer(new UpstreamServer(up.address), '/api/v1/health', 1000, twoXxThreeXx);
    expect(result).toEqual({ ok: true, detail: 'status 200' });
    expect(up.requests).toHaveLength(1);
    expect(up.requests[0]).toMatchObject({ method: 'GET', url: '/api/v1/health' });
    expect(rawHeader(up.requests[0]!.rawHeaders, 'host')).toBe(up.address);
  });

  it('fails on an unexpected status', async () => {
    const up = await upstream((_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    expect(await probeServer(new UpstreamServer(up.address), '/h', 1000, twoXxThreeXx)).toEqual({ ok: false, detail: 'status 503' });
    expect(await probeServer(new UpstreamServer(up.address), '/h', 1000, compileExpectStatus([503]))).toEqual({ ok: true, detail: 'status 503' });
  });

  it('fails on a refused connection', async () => {
    expect(await probeServer(new UpstreamServer(await deadAddress()), '/h', 1000, twoXxThreeXx)).toEqual({ ok: false, detail: 'connect ECONNREFUSED' });
  });

  it('fails when no response head arrives within the timeout, and decides on the head of a streaming response', async () => {
    const up = await upstream((req, res) => {
      if (req.url === '/stream') res.writeHead(200).write('x');
      // '/silent' never answers
    });
    const server = new UpstreamServer(up.address);
    const started = performance.now();
    expect(await probeServer(server, '/silent', 150, twoXxThreeXx)).toEqual({ ok: false, detail: 'timeout after 150 ms' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(await probeServer(server, '/stream', 1000, twoXxThreeXx)).toEqual({ ok: true, detail: 'status 200' });
  });
});

describe('ActiveHealthCheck', () => {
  it('checks at once and then on a fixed cadence that slow checks do not stretch', async () => {
    // Wide margins: a check overrunning the interval would (rightly) skip a slot.
    const INTERVAL_MS = 200;
    const RESPONSE_DELAY_MS = 80;
    const arrivals: number[] = [];
    const up = await upstream((_req, res) => {
      arrivals.push(performance.now());
      setTimeout(() => res.end(), RESPONSE_DELAY_MS);
    });
    const results: CheckResult[] = [];
    const started = performance.now();
    await new Promise<void>((resolve) => {
      const check = new ActiveHealthCheck(
        new UpstreamServer(up.address),
        { path: '/h', interval_ms: INTERVAL_MS, fall: 3, rise: 2, expect_status: ['2xx'] },
        (result) => {
          results.push(result);
          if (results.length === 5) {
            check.stop();
            resolve();
          }
        },
      );
      cleanups.push(async () => check.stop());
      check.start();
    });
    expect(arrivals[0]! - started).toBeLessThan(200);
    // Starts 200 ms apart: ~800 ms from the first to the fifth (late timers do not add up).
    // Timing each check from the end of the previous one would give 4 x (200 + 80) = 1120 ms.
    const span = arrivals[4]! - arrivals[0]!;
    expect(span).toBeGreaterThanOrEqual(4 * INTERVAL_MS - 40);
    expect(span).toBeLessThan(4 * INTERVAL_MS + 200);
    expect(results.every((r) => r.ok)).toBe(true);
  });
});
