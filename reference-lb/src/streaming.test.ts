import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startLoadBalancer } from './start-load-balancer.ts';
import { startTestUpstream, testConfig, type TestUpstream } from './test-upstream.ts';

const MIB = 1024 * 1024;
/** Size of the large transfers: big enough that any whole-body buffering would show in memory and time. */
const LARGE_BYTES = 64 * MIB;
/** A byte that arrives later than this after being sent was held back somewhere. */
const FIRST_BYTE_BUDGET_MS = 1000;
/** How long a test client or upstream pauses mid-body. */
const PAUSE_MS = 1500;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function upstream(handler: http.RequestListener): Promise<TestUpstream> {
  const u = await startTestUpstream(handler);
  cleanups.push(() => u.close());
  return u;
}

async function startLb(address: string, buffering: Record<string, unknown> = {}): Promise<number> {
  const config = testConfig({
    upstreams: { blobs: { keepalive: 4, servers: [{ address }] } },
    timeouts: { connect_ms: 2000, read_ms: 30_000, send_ms: 30_000, client_idle_ms: 30_000 },
    limits: { max_body_bytes: 0 },
    buffering: { request: false, response: false, ...buffering },
    listeners: [{ name: 'web', bind: '127.0.0.1:0', routes: [{ match: { prefix: '/' }, proxy: { upstream: 'blobs' } }] }],
  });
  const lb = await startLoadBalancer(config);
  cleanups.push(() => lb.close());
  return lb.listeners[0]!.port;
}

/** 1 MiB of random bytes, sent `count` times with the first byte set to the chunk index. */
function blob(count: number): { chunk: (i: number) => Buffer; sha256: string } {
  const base = randomBytes(MIB);
  const chunk = (i: number): Buffer => {
    const c = Buffer.from(base);
    c[0] = i & 0xff;
    return c;
  };
  const hash = createHash('sha256');
  for (let i = 0; i < count; i++) hash.update(chunk(i));
  return { chunk, sha256: hash.digest('hex') };
}

/** Writes chunks with backpressure, then ends. */
async function writeAll(stream: NodeJS.WritableStream, count: number, chunk: (i: number) => Buffer): Promise<void> {
  for (let i = 0; i < count; i++) {
    if (!stream.write(chunk(i))) await new Promise((resolve) => stream.once('drain', resolve));
  }
  stream.end();
}

describe('large bodies', () => {
  it('streams a 64 MiB chunked upload intact', async () => {
    const up = await upstream((req, res) => {
      const hash = createHash('sha256');
      let n = 0;
      req.on('data', (c: Buffer) => {
        hash.update(c);
        n += c.length;
      });
      req.on('end', () => res.end(JSON.stringify({ n, sha256: hash.digest('hex'), te: req.headers['transfer-encoding'] ?? null })));
    });
    const port = await startLb(up.address);
    const data = blob(LARGE_BYTES / MIB);
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/upload', method: 'PUT', agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (t: string) => (text += t)).on('end', () => resolve(text));
      });
      req.on('error', reject);
      void writeAll(req, LARGE_BYTES / MIB, data.chunk);
    });
    expect(JSON.parse(body)).toEqual({ n: LARGE_BYTES, sha256: data.sha256, te: 'chunked' });
  });

  it('streams a 64 MiB download with Content-Length intact', async () => {
    const data = blob(LARGE_BYTES / MIB);
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'Content-Length': String(LARGE_BYTES), 'Content-Type': 'application/octet-stream' });
      void writeAll(res, LARGE_BYTES / MIB, data.chunk);
    });
    const port = await startLb(up.address);
    const got = await new Promise<{ n: number; sha256: string; cl: string | undefined }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/download', agent: false }, (res) => {
        const hash = createHash('sha256');
        let n = 0;
        res.on('data', (c: Buffer) => {
          hash.update(c);
          n += c.length;
        });
        res.on('end', () => resolve({ n, sha256: hash.digest('hex'), cl: res.headers['content-length'] }));
        res.on('error', reject);
      }).on('error', reject);
    });
    expect(got).toEqual({ n: LARGE_BYTES, sha256: data.sha256, cl: String(LARGE_BYTES) });
  });
});

describe('no hidden buffering', () => {
  it('delivers an upstream first chunk at once while the upstream pauses', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      res.write(Buffer.alloc(1024, 120));
      setTimeout(() => res.end(), PAUSE_MS);
    });
    const port = await startLb(up.address);
    const started = Date.now();
    const timing = await new Promise<{ headMs: number; firstByteMs: number; endMs: number }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/slow', agent: false }, (res) => {
        const headMs = Date.now() - started;
        let firstByteMs = -1;
        res.on('data', () => {
          if (firstByteMs < 0) firstByteMs = Date.now() - started;
        });
        res.on('end', () => resolve({ headMs, firstByteMs, endMs: Date.now() - started }));
      }).on('error', reject);
    });
    expect(timing.headMs).toBeLessThan(FIRST_BYTE_BUDGET_MS);
    expect(timing.firstByteMs).toBeLessThan(FIRST_BYTE_BUDGET_MS);
    expect(timing.endMs).toBeGreaterThanOrEqual(PAUSE_MS - 50);
  });

  it('sends the response head at once when the upstream pauses before any body byte', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.flushHeaders();
      setTimeout(() => res.end('late'), PAUSE_MS);
    });
    const port = await startLb(up.address);
    const started = Date.now();
    const headMs = await new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/head-first', agent: false }, (res) => {
        resolve(Date.now() - started);
        res.resume();
      }).on('error', reject);
    });
    expect(headMs).toBeLessThan(FIRST_BYTE_BUDGET_MS);
  });

  /** Sends 1 MiB, pauses, sends 1 more; reports when the upstream saw the request and the first MiB. */
  async function pausedUpload(buffering: Record<string, unknown>) {
    const started = Date.now();
    const seen = { requestMs: -1, firstMibMs: -1, contentLength: undefined as string | undefined, total: 0 };
    const up = await upstream((req, res) => {
      seen.requestMs = Date.now() - started;
      seen.contentLength = req.headers['content-length'];
      req.on('data', (c: Buffer) => {
        seen.total += c.length;
        if (seen.firstMibMs < 0 && seen.total >= MIB) seen.firstMibMs = Date.now() - started;
      });
      req.on('end', () => res.end('ok'));
    });
    const port = await startLb(up.address, buffering);
    await new Promise<void>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/paused', method: 'POST', agent: false }, (res) => res.resume().on('end', resolve));
      req.on('error', reject);
      req.write(Buffer.alloc(MIB, 1));
      setTimeout(() => req.end(Buffer.alloc(MIB, 2)), PAUSE_MS);
    });
    return seen;
  }

  it('delivers the first MiB of a paused upload to the upstream at once', async () => {
    const seen = await pausedUpload({});
    expect(seen.firstMibMs).toBeGreaterThanOrEqual(0);
    expect(seen.firstMibMs).toBeLessThan(FIRST_BYTE_BUDGET_MS);
    expect(seen.total).toBe(2 * MIB);
    expect(seen.contentLength).toBeUndefined();
  });

  it('holds the upload back until it is complete with request buffering on', async () => {
    const seen = await pausedUpload({ request: true, memory_bytes: 256 * 1024 });
    expect(seen.requestMs).toBeGreaterThanOrEqual(PAUSE_MS - 50);
    expect(seen.total).toBe(2 * MIB);
    expect(seen.contentLength).toBe(String(2 * MIB));
  });

  it('holds the response back until it is complete with response buffering on', async () => {
    const up = await upstream((_req, res) => {
      res.write(Buffer.alloc(1024, 120));
      setTimeout(() => res.end(Buffer.alloc(1024, 121)), PAUSE_MS);
    });
    const port = await startLb(up.address, { response: true });
    const started = Date.now();
    const result = await new Promise<{ headMs: number; n: number; cl: string | undefined }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/buffered', agent: false }, (res) => {
        const headMs = Date.now() - started;
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => resolve({ headMs, n, cl: res.headers['content-length'] }));
      }).on('error', reject);
    });
    expect(result.headMs).toBeGreaterThanOrEqual(PAUSE_MS - 50);
    expect(result).toMatchObject({ n: 2048, cl: '2048' });
  });
});
