import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoadBalancer, type StartedLoadBalancer } from './start-load-balancer.ts';
import { sendRaw, sendRequest, startRecordingUpstream, testConfig, type RecordingUpstream } from './test-upstream.ts';

/*
 * Request line, head size and field count limits, and the header and body read
 * timeouts: each answered by the LB itself, nothing reaching an upstream, other clients
 * served meanwhile. Timeouts are short (200 ms) so the tests wait on the LB's answer,
 * never on a clock of their own.
 */
const HEADER_TIMEOUT_MS = 200;
const BODY_TIMEOUT_MS = 200;

function head(target: string, fields: string[] = []): string {
  return `GET ${target} HTTP/1.1\r\nHost: a\r\n${fields.map((f) => `${f}\r\n`).join('')}\r\n`;
}

function fields(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `X-F${i}: v`);
}

describe('request limits', () => {
  let upstream: RecordingUpstream;
  let lb: StartedLoadBalancer;
  let port: number;
  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    lb = await startLoadBalancer(
      testConfig({
        upstreams: { pool: { servers: [{ address: upstream.address }] } },
        timeouts: { client_header_ms: HEADER_TIMEOUT_MS, send_ms: BODY_TIMEOUT_MS },
        listeners: [{ name: 'http', bind: '127.0.0.1:0', routes: [{ match: { prefix: '/' }, proxy: { upstream: 'pool' } }] }],
      }),
    );
    port = lb.listeners[0]!.port;
  });
  afterAll(async () => {
    await lb?.close();
    await upstream?.close();
  });

  // Defaults: request_line_bytes 8190, header_bytes 16384, header_count 100 (Host and the Connection: close added below count).
  it.each([
    ['a request line of 8190 bytes', head(`/${'a'.repeat(8190 - 'GET / HTTP/1.1'.length)}`), 200],
    ['a request line of 8191 bytes', head(`/${'a'.repeat(8191 - 'GET / HTTP/1.1'.length)}`), 414],
    ['a request line over header_bytes', head(`/${'a'.repeat(17_000)}`), 431],
    ['a head of 16000 bytes', head('/', [`X-Big: ${'b'.repeat(16_000 - 40)}`]), 200],
    ['a head over 16384 bytes', head('/', [`X-Big: ${'b'.repeat(16_400)}`]), 431],
    ['100 fields', head('/', fields(98)), 200],
    ['101 fields', head('/', fields(99)), 431],
    ['2001 fields (node would keep 2000)', head('/', fields(1999)), 431],
  ])('%s: %s', async (_what, bytes, status) => {
    const before = upstream.rawBytes();
    const res = await sendRaw(port, bytes.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
    expect(res.status).toBe(status);
    expect(res.closed).toBe(true);
    if (status !== 200) expect(upstream.rawBytes() - before).toBe(0);
  });

  it('cuts a head sent a byte at a time with 408 (client_header_ms), serving others meanwhile', async () => {
    const socket = net.connect(port, '127.0.0.1');
    const bytes = Buffer.from(head('/slow'), 'latin1');
    let sent = 0;
    const received: Buffer[] = [];
    socket.on('data', (c: Buffer) => received.push(c));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => undefined);
    // One byte every HEADER_TIMEOUT_MS / 4: the head as a whole takes far longer than the timeout.
    const drip = setInterval(() => {
      if (sent < bytes.length - 2 && !socket.destroyed) socket.write(bytes.subarray(sent, ++sent));
    }, HEADER_TIMEOUT_MS / 4);
    const other = await sendRequest(port, '/other');
    expect(other.status).toBe(200);
    await closed;
    clearInterval(drip);
    expect(Buffer.concat(received).toString('latin1')).toMatch(/^HTTP\/1\.1 408 /);
    expect(upstream.requests.some((r) => r.url === '/slow')).toBe(false);
    expect(upstream.raw.some((b) => b.includes('/slow'))).toBe(false);
  });

  it('answers 408 to a body that stops before anything was forwarded (request buffering) and closes', async () => {
    await using buffered = await startLoadBalancer(
      testConfig({
        upstreams: { pool: { servers: [{ address: upstream.address }] } },
        timeouts: { send_ms: BODY_TIMEOUT_MS },
        buffering: { request: true },
        listeners: [{ name: 'http', bind: '127.0.0.1:0', routes: [{ match: { prefix: '/' }, proxy: { upstream: 'pool' } }] }],
      }),
    );
    const before = upstream.rawBytes();
    const res = await sendRaw(buffered.listeners[0]!.port, 'POST /stalled HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc', 10 * BODY_TIMEOUT_MS);
    expect(res.status).toBe(408);
    expect(res.closed).toBe(true);
    expect(upstream.rawBytes() - before).toBe(0);
  });

  it('closes the upstream exchange of a streamed body that stops: the upstream never gets a complete request', async () => {
    const requests = upstream.requests.length;
    const res = await sendRaw(port, 'POST /stalled HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc', 10 * BODY_TIMEOUT_MS);
    expect(res.closed).toBe(true);
    expect(res.status).toBe(408);
    // The head may have been forwarded (streaming); the upstream's parser never completed the request.
    const seen = upstream.requests.slice(requests);
    expect(seen.every((r) => r.url === '/stalled')).toBe(true);
  });
});
