import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { LbEvent, UpstreamErrorEvent } from './events.ts';
import { startLoadBalancer } from './start-load-balancer.ts';
import { deadAddress, EventLog, sendRequest, startTestUpstream, testConfig, type TestUpstream } from './test-upstream.ts';

/* Retries: `retry_on` (connect failures, resets, timeouts, statuses) and `redispatch`. */

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function upstream(handler?: http.RequestListener): Promise<TestUpstream> {
  const u = await startTestUpstream(handler);
  cleanups.push(() => u.close());
  return u;
}

/** Answers `status` with body `<port> <status>`, after reading the request body. */
function answering(status: number): (port: () => number) => http.RequestListener {
  return (port) => (req, res) => {
    req.resume();
    req.on('end', () => {
      res.statusCode = status;
      res.end(`${port()} ${status}`);
    });
  };
}

async function withStatus(status: number): Promise<TestUpstream> {
  let port = 0;
  const u = await upstream(answering(status)(() => port));
  port = u.port;
  return u;
}

async function startLb(addresses: string[], upstreamConfig: Record<string, unknown> = {}, top: Record<string, unknown> = {}) {
  const config = testConfig({
    upstreams: { u: { keepalive: 4, servers: addresses.map((address) => ({ address })), ...upstreamConfig } },
    timeouts: { connect_ms: 1000, read_ms: 5000 },
    listeners: [{ name: 'web', bind: '127.0.0.1:0', routes: [{ match: { prefix: '/' }, proxy: { upstream: 'u' } }] }],
    ...top,
  });
  const log = new EventLog<LbEvent>();
  const lb = await startLoadBalancer(config, { onEvent: log.push });
  cleanups.push(() => lb.close());
  const errors = (): UpstreamErrorEvent[] => log.all.filter((e): e is UpstreamErrorEvent => e.event === 'upstream-error');
  return { port: lb.listeners[0]!.port, errors };
}

describe('retry_on statuses', () => {
  it('retries an idempotent request answered 503 on another server', async () => {
    const busy = await withStatus(503);
    const ok = await withStatus(200);
    const { port, errors } = await startLb([busy.address, ok.address], { retry_on: ['connect_failure', 503] });
    const res = await sendRequest(port, '/x');
    expect(res).toMatchObject({ status: 200, body: `${ok.port} 200` });
    expect(errors()).toMatchObject([{ code: 'LB_ERR_UPSTREAM_STATUS', server: busy.address, retry: true, status: null }]);
    expect(busy.requests).toHaveLength(1);
  });

  it('relays the status for a non-idempotent request and for a streamed body', async () => {
    const busy = await withStatus(503);
    const ok = await withStatus(200);
    const { port } = await startLb([busy.address, ok.address], { retry_on: ['503'] });
    expect(await sendRequest(port, '/x', { method: 'POST' })).toMatchObject({ status: 503, body: `${busy.port} 503` });
    // PUT is idempotent, but its body has been streamed to the first server.
    let put = await sendRequest(port, '/x', { method: 'PUT', body: 'payload' });
    if (put.status === 200) put = await sendRequest(port, '/x', { method: 'PUT', body: 'payload' });
    expect(put).toMatchObject({ status: 503, body: `${busy.port} 503` });
    expect(ok.requests.filter((r) => r.method !== 'GET')).toHaveLength(1);
  });

  it('retries a PUT whose body request buffering holds', async () => {
    const busy = await withStatus(503);
    const ok = await withStatus(200);
    const { port } = await startLb([busy.address, ok.address], { retry_on: [503] }, { buffering: { request: true } });
    for (let i = 0; i < 2; i++) expect(await sendRequest(port, '/x', { method: 'PUT', body: 'payload' })).toMatchObject({ status: 200 });
    expect(busy.requests).toHaveLength(1);
  });

  it('relays the last answer when no server is left', async () => {
    const a = await withStatus(503);
    const b = await withStatus(503);
    const { port, errors } = await startLb([a.address, b.address], { retry_on: [503] });
    const res = await sendRequest(port, '/x');
    expect(res.status).toBe(503);
    expect(errors()).toHaveLength(1);
    expect(a.requests.length + b.requests.length).toBe(2);
  });
});

describe('redispatch', () => {
  it('false retries the same server', async () => {
    let calls = 0;
    const flaky = await upstream((_req, res) => {
      res.statusCode = ++calls === 1 ? 503 : 200;
      res.end(String(calls));
    });
    const other = await withStatus(200);
    const { port, errors } = await startLb([flaky.address, other.address], { retry_on: [503], redispatch: false, retries: 1 });
    expect(await sendRequest(port, '/x')).toMatchObject({ status: 200, body: '2' });
    expect(other.requests).toHaveLength(0);
    expect(errors()).toMatchObject([{ server: flaky.address, retry: true }]);
  });

  it('false with a dead server: every attempt goes to it, then 502', async () => {
    const dead = await deadAddress();
    const other = await withStatus(200);
    const { port, errors } = await startLb([dead, other.address], { redispatch: false, retries: 2 });
    expect((await sendRequest(port, '/x')).status).toBe(502);
    expect(errors().map((e) => [e.server, e.retry])).toEqual([
      [dead, true],
      [dead, true],
      [dead, false],
    ]);
    expect(other.requests).toHaveLength(0);
  });

  it('true (the default) sends a retry to another server', async () => {
    const dead = await deadAddress();
    const other = await withStatus(200);
    const { port, errors } = await startLb([dead, other.address], { retries: 2 });
    expect((await sendRequest(port, '/x')).status).toBe(200);
    expect(errors()).toMatchObject([{ server: dead, retry: true }]);
  });
});

describe('retry_on failure kinds', () => {
  it('without connect_failure a refused connection is not retried', async () => {
    const dead = await deadAddress();
    const other = await withStatus(200);
    const { port, errors } = await startLb([dead, other.address], { retry_on: [503] });
    expect((await sendRequest(port, '/x')).status).toBe(502);
    expect(errors()).toMatchObject([{ code: 'LB_ERR_UPSTREAM_CONNECT', retry: false, status: 502 }]);
  });

  it('timeout retries a read timeout before the response head, for idempotent requests only', async () => {
    const silent = await upstream((req) => req.resume());
    const ok = await withStatus(200);
    const { port, errors } = await startLb([silent.address, ok.address], { retry_on: ['connect_failure', 'timeout'] }, { timeouts: { read_ms: 200 } });
    expect(await sendRequest(port, '/x')).toMatchObject({ status: 200, body: `${ok.port} 200` });
    expect(errors()).toMatchObject([{ code: 'LB_ERR_UPSTREAM_READ_TIMEOUT', retry: true }]);
    // A fresh LB starts on the silent server; a POST is not retried.
    const fresh = await startLb([silent.address, ok.address], { retry_on: ['connect_failure', 'timeout'] }, { timeouts: { read_ms: 200 } });
    expect((await sendRequest(fresh.port, '/x', { method: 'POST' })).status).toBe(504);
  });

  it('reset retries a connection closed before the response head', async () => {
    const rude = await upstream((req) => req.socket.destroy());
    const ok = await withStatus(200);
    const without = await startLb([rude.address, ok.address]);
    expect((await sendRequest(without.port, '/x')).status).toBe(502);
    const withReset = await startLb([rude.address, ok.address], { retry_on: ['connect_failure', 'reset'] });
    expect((await sendRequest(withReset.port, '/x')).status).toBe(200);
  });
});

describe("seed 004's proxy_next_upstream error timeout invalid_header http_500 http_502 http_503", () => {
  /** A TCP server that answers every connection with bytes that are not HTTP. */
  async function garbage(): Promise<string> {
    const server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => socket.end('HELLO THIS IS NOT HTTP\r\n\r\n'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  }

  const NGINX_NEXT_UPSTREAM = ['connect_failure', 'reset', 'timeout', 'invalid_header', 500, 502, 503];

  it('retries an invalid response head only with invalid_header, and only for idempotent requests', async () => {
    const bad = await garbage();
    const ok = await withStatus(200);
    const without = await startLb([bad, ok.address]);
    expect((await sendRequest(without.port, '/x')).status).toBe(502);
    expect(without.errors()).toMatchObject([{ code: 'LB_ERR_UPSTREAM_PROTOCOL', retry: false, status: 502 }]);

    const withIt = await startLb([bad, ok.address], { retry_on: NGINX_NEXT_UPSTREAM });
    expect(await sendRequest(withIt.port, '/x')).toMatchObject({ status: 200, body: `${ok.port} 200` });
    expect(withIt.errors()).toMatchObject([{ code: 'LB_ERR_UPSTREAM_PROTOCOL', server: bad, retry: true, status: null }]);
    const post = await startLb([bad, ok.address], { retry_on: NGINX_NEXT_UPSTREAM });
    expect((await sendRequest(post.port, '/x', { method: 'POST', body: 'x' })).status).toBe(502);
  });

  it.each([500, 502, 503])('retries http_%i on the next server', async (status) => {
    const failing = await withStatus(status);
    const ok = await withStatus(200);
    const { port, errors } = await startLb([failing.address, ok.address], { retry_on: NGINX_NEXT_UPSTREAM });
    expect(await sendRequest(port, '/x')).toMatchObject({ status: 200, body: `${ok.port} 200` });
    expect(errors()).toMatchObject([{ code: 'LB_ERR_UPSTREAM_STATUS', server: failing.address, retry: true }]);
  });
});
