import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SURPLUS_IDLE_MS } from './connection-pool.ts';
import type { LbEvent, UpstreamErrorEvent } from './events.ts';
import { startLoadBalancer, type StartedLoadBalancer } from './start-load-balancer.ts';
import { deadAddress, rawHeader, startBlackhole, sendRequest, startTestUpstream, testConfig, type TestUpstream } from './test-upstream.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function upstream(handler?: http.RequestListener): Promise<TestUpstream> {
  const u = await startTestUpstream(handler);
  cleanups.push(() => u.close());
  return u;
}

interface Started {
  lb: StartedLoadBalancer;
  port: number;
  events: LbEvent[];
}

/** The shakenfist-api shape on one plain listener, with overrides merged in at the top level. */
async function startLb(servers: string[], overrides: Record<string, unknown> = {}, upstreamOverrides: Record<string, unknown> = {}): Promise<Started> {
  const config = testConfig({
    upstreams: { sfapi: { keepalive: 16, servers: servers.map((address) => ({ address })), ...upstreamOverrides } },
    timeouts: { connect_ms: 2000, read_ms: 10_000, send_ms: 10_000, client_idle_ms: 10_000 },
    limits: { max_body_bytes: 0 },
    headers: { preserve_host: true, forwarded: true },
    listeners: [
      {
        name: 'web',
        bind: '127.0.0.1:0',
        server_names: ['sf.example.com'],
        routes: [
          { match: { regex: '\\.php$', ignore_case: true }, deny: true },
          { match: { exact: '/api' }, redirect: { status: 301, location: '/api/' } },
          { match: { prefix: '/to-https' }, redirect: { status: 308, location: 'https://{host}{request_uri}' } },
          { match: { prefix: '/api/' }, proxy: { upstream: 'sfapi', strip_prefix: '/api' } },
          { match: { prefix: '/raw-host/' }, proxy: { upstream: 'sfapi', headers: { preserve_host: false, forwarded: false } } },
          { match: { prefix: '/' }, proxy: { upstream: 'sfapi' } },
        ],
      },
    ],
    ...overrides,
  });
  const events: LbEvent[] = [];
  const lb = await startLoadBalancer(config, { onEvent: (e) => events.push(e) });
  cleanups.push(() => lb.close());
  return { lb, port: lb.listeners[0]!.port, events };
}

function upstreamErrors(events: LbEvent[]): UpstreamErrorEvent[] {
  return events.filter((e): e is UpstreamErrorEvent => e.event === 'upstream-error');
}

/** Writes a raw request and collects every byte until the LB closes the socket. */
function rawExchange(port: number, request: string): Promise<{ bytes: Buffer; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve({ bytes: Buffer.concat(chunks), closed: true }));
    socket.setTimeout(3000, () => {
      socket.destroy();
      resolve({ bytes: Buffer.concat(chunks), closed: false });
    });
  });
}

describe('routing', () => {
  it('strips /api and keeps the query and percent-encoding byte for byte', async () => {
    const up = await upstream();
    const { port } = await startLb([up.address]);
    for (const [sent, expected] of [
      ['/api/auth/namespaces?x=1', '/auth/namespaces?x=1'],
      ['/api/blobs/a%2Fb%2f..%2E/c?q=%2F&r=a+b%20c', '/blobs/a%2Fb%2f..%2E/c?q=%2F&r=a+b%20c'],
      ['/api//double//slash', '//double//slash'],
      ['/api/', '/'],
    ] as const) {
      const res = await sendRequest(port, sent);
      expect(res.status).toBe(200);
      expect(up.requests.at(-1)?.url).toBe(expected);
    }
  });

  it('passes other paths through unchanged', async () => {
    const up = await upstream();
    const { port } = await startLb([up.address]);
    for (const path of ['/apidocs', '/flasgger_static/swagger-ui.css', '/apispec_1.json', '/instances?all=1', '/%7Euser/a%20b']) {
      expect((await sendRequest(port, path)).status).toBe(200);
      expect(up.requests.at(-1)?.url).toBe(path);
    }
  });

  it('redirects the bare /api to /api/', async () => {
    const up = await upstream();
    const { port } = await startLb([up.address]);
    const res = await sendRequest(port, '/api');
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe('/api/');
    expect(up.requests).toHaveLength(0);
  });

  it('renders redirect templates from the raw request', async () => {
    const up = await upstream();
    const { port } = await startLb([up.address]);
    const res = await sendRequest(port, '/to-https/a%2Fb?x=1&y', { headers: { host: 'SF.example.com:8080' } });
    expect(res.status).toBe(308);
    expect(res.headers.location).toBe('https://sf.example.com/to-https/a%2Fb?x=1&y');
  });

  it('closes the connection without a byte on a deny route', async () => {
    const up = await upstream();
    const { port } = await startLb([up.address]);
    for (const path of ['/wp-login.php', '/api/x.PHP']) {
      const { bytes, closed } = await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: sf.example.com\r\n\r\n`);
      expect(closed).toBe(true);
      expect(bytes.length).toBe(0);
    }
    // The query is not part of the matched path.
    expect((await sendRequest(port, '/index.html?file=x.php')).status).toBe(200);
    expect(up.requests.map((r) => r.url)).toEqual(['/index.html?file=x.php']);
  });

  it('answers 404 when no route matches', async () => {
    const config = testConfig({ listeners: [{ name: 'l', bind: '127.0.0.1:0', routes: [{ match: { exact: '/only' }, deny: true }] }] });
    const lb = await startLoadBalancer(config);
    cleanups.push(() => lb.close());
    expect((await sendRequest(lb.listeners[0]!.port, '/else')).status).toBe(404);
  });
});

describe('headers', () => {
  it('sets X-Forwarded-* and X-Real-IP, appending to an incoming chain', async () => {
    const up = await upstream();
    const { port } = await startLb([up.address]);
    await new Promise<void>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, path: '/api/h', localAddress: '127.0.0.2', agent: false, headers: { host: 'sf.example.com', 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'gopher', 'x-real-ip': '6.6.6.6' } },
        (res) => res.resume().on('end', resolve),
      );
      req.on('error', reject);
      req.end();
    });
    const raw = up.requests[0]!.rawHeaders;
    expect(rawHeader(raw, 'x-forwarded-for')).toBe('203.0.113.7, 127.0.0.2');
    expect(rawHeader(raw, 'x-forwarded-proto')).toBe('http');
    expect(rawHeader(raw, 'x-forwarded-host')).toBe('sf.example.com');
    expect(rawHeader(raw, 'x-real-ip')).toBe('127.0.0.2');
    expect(rawHeader(raw, 'host')).toBe('sf.example.com');
    expect(raw.filter((h) => h.toLowerCase() === 'x-forwarded-for')).toHaveLength(1);
  });

  it('can send the upstream address as Host and leave X-Forwarded-* alone', async () => {
    const up = await upstream();
    const { port } = await startLb([up.address]);
    await sendRequest(port, '/raw-host/x', { headers: { host: 'sf.example.com', 'x-forwarded-for': '203.0.113.7' } });
    const raw = up.requests[0]!.rawHeaders;
    expect(rawHeader(raw, 'host')).toBe(up.address);
    expect(rawHeader(raw, 'x-forwarded-for')).toBe('203.0.113.7');
    expect(rawHeader(raw, 'x-real-ip')).toBeUndefined();
  });

  it('drops hop-by-hop headers both ways and keeps duplicate end-to-end ones', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'X-Hop', 'secret', 'Connection', 'X-Hop', 'Proxy-Authenticate', 'Basic', 'X-Keep', 'yes']);
      res.end('ok');
    });
    const { port } = await startLb([up.address]);
    const res = await sendRequest(port, '/h', {
      headers: ['Host', 'sf.example.com', 'Connection', 'keep-alive, X-Client-Hop', 'X-Client-Hop', '1', 'Keep-Alive', 'timeout=5', 'Proxy-Authorization', 'Basic x', 'TE', 'trailers', 'Upgrade', 'h2c', 'Accept', 'a', 'Accept', 'b'],
    });
    expect(res.status).toBe(200);
    const sent = up.requests[0]!.rawHeaders.filter((_, i) => i % 2 === 0).map((h) => h.toLowerCase());
    for (const name of ['x-client-hop', 'keep-alive', 'proxy-authorization', 'te', 'upgrade']) expect(sent).not.toContain(name);
    expect(up.requests[0]!.rawHeaders.filter((h) => h === 'Accept')).toHaveLength(2);
    expect(res.rawHeaders.filter((h) => h === 'Set-Cookie')).toHaveLength(2);
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(res.headers['x-hop']).toBeUndefined();
    expect(res.headers['proxy-authenticate']).toBeUndefined();
    expect(res.headers['x-keep']).toBe('yes');
  });
});

describe('balancing and pooling', () => {
  it('alternates between two upstreams', async () => {
    const a = await upstream();
    const b = await upstream();
    const { port } = await startLb([a.address, b.address]);
    const answers: string[] = [];
    for (let i = 0; i < 10; i++) answers.push((await sendRequest(port, '/rr')).body.split(' ')[0]!);
    expect(a.requests).toHaveLength(5);
    expect(b.requests).toHaveLength(5);
    for (let i = 1; i < answers.length; i++) expect(answers[i]).not.toBe(answers[i - 1]);
  });

  it('reuses pooled upstream connections', async () => {
    const up = await upstream();
    const { port } = await startLb([up.address]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    cleanups.push(async () => agent.destroy());
    for (let round = 0; round < 5; round++) {
      await Promise.all([1, 2, 3, 4].map(() => sendRequest(port, '/ka', { agent })));
    }
    expect(up.requests).toHaveLength(20);
    expect(up.connections).toBeLessThanOrEqual(4);
  });

  it('keeps at most `keepalive` idle connections once a burst is over', async () => {
    const up = await upstream((_req, res) => setTimeout(() => res.end('ok'), 200));
    const { port } = await startLb([up.address], {}, { keepalive: 2 });
    await Promise.all(Array.from({ length: 8 }, () => sendRequest(port, '/burst')));
    expect(up.connections).toBe(8);
    await new Promise((resolve) => setTimeout(resolve, SURPLUS_IDLE_MS + 800));
    expect(up.openConnections()).toBe(2);
    for (let i = 0; i < 4; i++) await sendRequest(port, '/after');
    expect(up.connections).toBe(8);
  });

  it('opens a connection per request with keepalive 0', async () => {
    const up = await upstream();
    const { port } = await startLb([up.address], {}, { keepalive: 0 });
    for (let i = 0; i < 5; i++) await sendRequest(port, '/nka');
    expect(up.connections).toBe(5);
  });
});

describe('upstream failures', () => {
  it('retries a refused connection on the next server, bodies included', async () => {
    const dead = await deadAddress();
    const live = await upstream((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(`got ${n}`));
    });
    const { port, events } = await startLb([dead, live.address], {}, { retries: 1 });
    for (let i = 0; i < 4; i++) {
      const res = await sendRequest(port, '/r', { method: 'POST', body: 'x'.repeat(100_000) });
      expect(res.status).toBe(200);
      expect(res.body).toBe('got 100000');
    }
    const errors = upstreamErrors(events);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => e.code === 'LB_ERR_UPSTREAM_CONNECT' && e.retry && e.server === dead)).toBe(true);
  });

  it('answers 502 when no retry is left', async () => {
    const dead = await deadAddress();
    const { port, events } = await startLb([dead], {}, { retries: 0 });
    const res = await sendRequest(port, '/x');
    expect(res.status).toBe(502);
    expect(upstreamErrors(events)).toMatchObject([{ code: 'LB_ERR_UPSTREAM_CONNECT', retry: false, status: 502 }]);
  });

  it('answers 503 when every server is down', async () => {
    const up = await upstream();
    const config = testConfig({
      upstreams: { u: { servers: [{ address: up.address, down: true }] } },
      listeners: [{ name: 'l', bind: '127.0.0.1:0', routes: [{ match: { prefix: '/' }, proxy: { upstream: 'u' } }] }],
    });
    const lb = await startLoadBalancer(config);
    cleanups.push(() => lb.close());
    expect((await sendRequest(lb.listeners[0]!.port, '/')).status).toBe(503);
    expect(up.requests).toHaveLength(0);
  });

  it('answers 504 when the upstream sends no response head within read_ms', async () => {
    const up = await upstream((_req, res) => setTimeout(() => res.end('late'), 1500));
    const { port, events } = await startLb([up.address], { timeouts: { read_ms: 300 } });
    const started = Date.now();
    const res = await sendRequest(port, '/slow');
    expect(res.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(1200);
    expect(upstreamErrors(events)).toMatchObject([{ code: 'LB_ERR_UPSTREAM_READ_TIMEOUT', status: 504 }]);
  });

  it('cuts the client connection when the upstream goes silent mid-body past read_ms', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'Content-Length': '2048' });
      res.write(Buffer.alloc(1024, 97));
      setTimeout(() => res.end(Buffer.alloc(1024, 98)), 1500);
    });
    const { port } = await startLb([up.address], { timeouts: { read_ms: 300 } });
    const outcome = await new Promise<string>((resolve) => {
      http.get({ host: '127.0.0.1', port, path: '/gap', agent: false }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => resolve(`complete ${n}`));
        res.on('error', () => resolve(`cut after ${n}`));
      });
    });
    expect(outcome).toBe('cut after 1024');
  });

  it('keeps a silent gap shorter than read_ms', async () => {
    const up = await upstream((_req, res) => {
      res.write('a');
      setTimeout(() => res.end('b'), 700);
    });
    const { port } = await startLb([up.address], { timeouts: { read_ms: 2000 } });
    expect((await sendRequest(port, '/gap')).body).toBe('ab');
  });

  it('answers 504 or retries when connecting times out', async () => {
    const hole = await startBlackhole();
    cleanups.push(() => hole.close());
    const up = await upstream();
    const noRetry = await startLb([hole.address, up.address], { timeouts: { connect_ms: 300 } }, { retries: 0 });
    const started = Date.now();
    const statuses = [(await sendRequest(noRetry.port, '/a')).status, (await sendRequest(noRetry.port, '/b')).status];
    expect(statuses).toEqual([504, 200]);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(upstreamErrors(noRetry.events)).toMatchObject([{ code: 'LB_ERR_UPSTREAM_CONNECT_TIMEOUT', status: 504, retry: false }]);

    const withRetry = await startLb([hole.address, up.address], { timeouts: { connect_ms: 300 } }, { retries: 1 });
    expect((await sendRequest(withRetry.port, '/c', { method: 'PUT', body: 'payload' })).status).toBe(200);
    expect(upstreamErrors(withRetry.events)).toMatchObject([{ code: 'LB_ERR_UPSTREAM_CONNECT_TIMEOUT', retry: true }]);
  });
});

describe('client side', () => {
  it('relays an upstream answer that comes before the upload is complete', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(401, { 'Content-Type': 'text/plain' });
      res.end('no');
    });
    const { port } = await startLb([up.address]);
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/upload', method: 'PUT', agent: false, headers: { 'content-length': String(8 * 1024 * 1024) } }, (r) => {
        let body = '';
        r.setEncoding('utf8').on('data', (t: string) => (body += t)).on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.write(Buffer.alloc(64 * 1024));
    });
    expect(res).toEqual({ status: 401, body: 'no' });
  });

  it('closes the upstream connection when the client goes away mid-download', async () => {
    let upstreamClosed: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => (upstreamClosed = resolve));
    const up = await upstream((_req, res) => {
      res.writeHead(200);
      const timer = setInterval(() => res.write(Buffer.alloc(16 * 1024)), 10);
      res.on('close', () => {
        clearInterval(timer);
        upstreamClosed();
      });
    });
    const { port } = await startLb([up.address]);
    await new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/endless', agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => undefined);
    });
    const started = Date.now();
    await closed;
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('passes HEAD, 204 and 304 responses through without a body', async () => {
    const up = await upstream((req, res) => {
      if (req.url === '/204') res.writeHead(204).end();
      else if (req.url === '/304') res.writeHead(304, { ETag: '"x"' }).end();
      else res.writeHead(200, { 'Content-Length': '5' }).end(req.method === 'HEAD' ? undefined : 'hello');
    });
    const { port } = await startLb([up.address]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(async () => agent.destroy());
    const head = await sendRequest(port, '/h', { method: 'HEAD', agent });
    expect([head.status, head.headers['content-length'], head.body]).toEqual([200, '5', '']);
    expect((await sendRequest(port, '/204', { agent })).status).toBe(204);
    const notModified = await sendRequest(port, '/304', { agent });
    expect([notModified.status, notModified.headers.etag, notModified.body]).toEqual([304, '"x"', '']);
    expect((await sendRequest(port, '/get', { agent })).body).toBe('hello');
  });

  it('answers 408 when the client stops sending its body for send_ms', async () => {
    let aborted = false;
    const up = await upstream((req, res) => {
      req.on('error', () => (aborted = true));
      req.on('aborted', () => (aborted = true));
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    const { port } = await startLb([up.address], { timeouts: { send_ms: 300 } });
    const status = await new Promise<number | string>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/stall', method: 'POST', agent: false, headers: { 'content-length': '100000' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', (err) => resolve((err as NodeJS.ErrnoException).code ?? 'error'));
      req.write(Buffer.alloc(1000));
    });
    expect(status).toBe(408);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(aborted).toBe(true);
  });
});

describe('body limits', () => {
  it('rejects a declared Content-Length over max_body_bytes with 413 without contacting the upstream', async () => {
    const up = await upstream();
    const { port } = await startLb([up.address], { limits: { max_body_bytes: 1000 } });
    const res = await sendRequest(port, '/up', { method: 'POST', body: 'x'.repeat(200_000) });
    expect(res.status).toBe(413);
    expect(up.connections).toBe(0);
    expect((await sendRequest(port, '/up', { method: 'POST', body: 'x'.repeat(1000) })).status).toBe(200);
  });

  it('counts a chunked body and stops it at max_body_bytes', async () => {
    let received = 0;
    const up = await upstream((req, res) => {
      req.on('data', (c: Buffer) => (received += c.length));
      req.on('end', () => res.end('ok'));
    });
    const { port } = await startLb([up.address], { limits: { max_body_bytes: 100_000 } });
    const status = await new Promise<number | string>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/up', method: 'POST', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', (err) => resolve((err as NodeJS.ErrnoException).code ?? 'error'));
      for (let i = 0; i < 30; i++) req.write(Buffer.alloc(10_000));
      req.end();
    });
    expect(status).toBe(413);
    expect(received).toBeLessThanOrEqual(110_000);
  });
});
