import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LbEvent, UpstreamErrorEvent } from './events.ts';
import { startLoadBalancer, type StartedLoadBalancer } from './start-load-balancer.ts';
import {
  deadAddress,
  EventLog,
  openWs,
  rawHeader,
  startTestUpstream,
  startWsUpstream,
  testConfig,
  type WsUpstream,
} from './test-upstream.ts';

/*
 * WebSocket proxying end to end: real `ws` servers behind a real LB on 127.0.0.1, real
 * `ws` clients in front. Waits are for events (messages, closes), never fixed sleeps,
 * except where the point is that nothing happens for a while.
 */

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

async function wsUpstream(): Promise<WsUpstream> {
  const u = await startWsUpstream();
  cleanups.push(() => u.close());
  return u;
}

interface Started {
  lb: StartedLoadBalancer;
  port: number;
  log: EventLog<LbEvent>;
}

async function startLb(upstream: Record<string, unknown>, top: Record<string, unknown> = {}, routes?: unknown[]): Promise<Started> {
  const config = testConfig({
    upstreams: { api_pool: { keepalive: 4, ...upstream } },
    timeouts: { connect_ms: 1000, read_ms: 5000 },
    headers: { forwarded: true },
    listeners: [
      {
        name: 'web',
        bind: '127.0.0.1:0',
        routes: routes ?? [
          { match: { prefix: '/ws/' }, proxy: { upstream: 'api_pool', strip_prefix: '/ws' } },
          { match: { prefix: '/' }, proxy: { upstream: 'api_pool' } },
        ],
      },
    ],
    ...top,
  });
  const log = new EventLog<LbEvent>();
  const lb = await startLoadBalancer(config, { onEvent: log.push });
  cleanups.push(() => lb.close());
  return { lb, port: lb.listeners[0]!.port, log };
}

function upstreamErrors(log: EventLog<LbEvent>): UpstreamErrorEvent[] {
  return log.all.filter((e): e is UpstreamErrorEvent => e.event === 'upstream-error');
}

const UPGRADE_HEADERS = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

/** Writes a raw request and collects every byte until the LB closes the connection. */
function rawExchange(port: number, request: string): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: true }));
    socket.setTimeout(5000, () => {
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed: false });
    });
  });
}

describe('WebSocket proxying', () => {
  it('tunnels a WebSocket with the forwarded headers and strip_prefix, both ways, and counts it in active', async () => {
    const up = await wsUpstream();
    const { lb, port } = await startLb({ servers: [{ name: 'api1', address: up.address }] });
    const client = await openWs(`ws://127.0.0.1:${port}/ws/chat?room=1`, { headers: { 'X-Forwarded-For': '203.0.113.9' } });
    expect(client.response.statusCode).toBe(101);
    expect(client.hello.url).toBe('/chat?room=1');
    const seen = client.hello.rawHeaders;
    expect(rawHeader(seen, 'host')).toBe(up.address);
    expect(rawHeader(seen, 'x-forwarded-for')).toBe('203.0.113.9, 127.0.0.1');
    expect(rawHeader(seen, 'x-forwarded-proto')).toBe('http');
    expect(rawHeader(seen, 'x-forwarded-host')).toBe(`127.0.0.1:${port}`);
    expect(rawHeader(seen, 'connection')).toBe('Upgrade');
    expect(rawHeader(seen, 'upgrade')).toBe('websocket');
    expect(rawHeader(seen, 'sec-websocket-key')).toBeDefined();

    const server = lb.pools.get('api_pool')!.servers[0]!;
    expect(server.active).toBe(1);
    client.ws.send('hello there');
    expect(await client.next()).toBe('hello there');
    // A large binary message crosses the tunnel intact, with backpressure on the way.
    const big = Buffer.alloc(4 * 1024 * 1024, 7);
    big.write('start');
    client.ws.send(big);
    const echoed = (await client.next()) as Buffer;
    expect(Buffer.compare(echoed, big)).toBe(0);

    client.ws.close(1000, 'bye');
    expect(await client.closed).toBe(1000);
    await up.closed(0);
    await expect.poll(() => server.active).toBe(0);
    expect(server.requests).toBe(1);
  });

  it('tunnels wss:// on a TLS listener to a plain upstream', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'reference-lb-wss-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', 'k.pem', '-out', 'c.pem'],
      { cwd: dir, stdio: 'ignore' },
    );
    const up = await wsUpstream();
    const config = testConfig({
      upstreams: { api_pool: { servers: [{ address: up.address }] } },
      headers: { forwarded: true },
      listeners: [{ name: 'https', bind: '127.0.0.1:0', tls: { cert: path.join(dir, 'c.pem'), key: path.join(dir, 'k.pem') }, routes: [{ match: { prefix: '/' }, proxy: { upstream: 'api_pool' } }] }],
    });
    const lb = await startLoadBalancer(config);
    cleanups.push(() => lb.close());
    const client = await openWs(`wss://localhost:${lb.listeners[0]!.port}/ws`, { ca: readFileSync(path.join(dir, 'c.pem')) });
    expect(rawHeader(client.hello.rawHeaders, 'x-forwarded-proto')).toBe('https');
    client.ws.send('over tls');
    expect(await client.next()).toBe('over tls');
    client.ws.close();
    await client.closed;
  });

  it('relays a non-101 answer as a normal response and then closes the connection', async () => {
    const refusing = await startTestUpstream();
    cleanups.push(() => refusing.close());
    refusing.server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) => {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nX-Why: token\r\n\r\nnope');
    });
    const { port } = await startLb({ servers: [{ address: refusing.address }] });
    const res = await rawExchange(port, `GET /ws/x HTTP/1.1\r\nHost: a.example\r\n${UPGRADE_HEADERS}\r\n`);
    expect(res.closed).toBe(true);
    const [head, body] = res.text.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(head).toContain('\r\nX-Why: token');
    expect(head).toContain('\r\nConnection: close');
    expect(head).toContain('\r\nDate: ');
    expect(body).toBe('nope');
    await expect(openWs(`ws://127.0.0.1:${port}/ws/x`)).rejects.toMatchObject({ status: 403 });

    // An upstream that does not speak WebSocket answers as to a plain GET; a chunked body ends with the connection.
    const plain = await startTestUpstream((_req, res) => {
      res.write('part one, ');
      res.end('part two');
    });
    cleanups.push(() => plain.close());
    const { port: port2 } = await startLb({ servers: [{ address: plain.address }] });
    const res2 = await rawExchange(port2, `GET /ws/x HTTP/1.1\r\nHost: a.example\r\n${UPGRADE_HEADERS}\r\n`);
    const [head2, body2] = res2.text.split('\r\n\r\n');
    expect(head2).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(head2).not.toMatch(/transfer-encoding/i);
    expect(body2).toBe('part one, part two');
    expect(res2.closed).toBe(true);
  });

  it('retries a failed connect on another server, then answers 502, or 503 when no server is up', async () => {
    const up = await wsUpstream();
    const dead = await deadAddress();
    const { port, log } = await startLb({ retries: 1, servers: [{ name: 'dead', address: dead }, { name: 'live', address: up.address }] });
    for (let i = 0; i < 2; i++) {
      const client = await openWs(`ws://127.0.0.1:${port}/ws/x`);
      expect(client.hello.port).toBe(up.port);
      client.ws.close();
      await client.closed;
    }
    // Round robin sends one of the two to the dead server first.
    expect(upstreamErrors(log)).toEqual([expect.objectContaining({ code: 'LB_ERR_UPSTREAM_CONNECT', server: dead, retry: true, status: null, url: '/ws/x' })]);

    const { port: allDead, log: log2 } = await startLb({ servers: [{ address: dead }] });
    await expect(openWs(`ws://127.0.0.1:${allDead}/ws/x`)).rejects.toMatchObject({ status: 502 });
    expect(upstreamErrors(log2)).toEqual([expect.objectContaining({ code: 'LB_ERR_UPSTREAM_CONNECT', retry: false, status: 502 })]);

    const { port: noneUp } = await startLb({ servers: [{ address: up.address, down: true }] });
    await expect(openWs(`ws://127.0.0.1:${noneUp}/ws/x`)).rejects.toMatchObject({ status: 503 });
  });

  it('closes a tunnel idle for tunnel_timeout_ms, and keeps a busy one open past every HTTP timeout', async () => {
    const TUNNEL_TIMEOUT_MS = 500;
    const HTTP_TIMEOUT_MS = 150;
    const up = await wsUpstream();
    const { lb, port } = await startLb(
      { tunnel_timeout_ms: TUNNEL_TIMEOUT_MS, servers: [{ address: up.address }] },
      { timeouts: { connect_ms: 1000, read_ms: HTTP_TIMEOUT_MS, client_idle_ms: HTTP_TIMEOUT_MS, client_header_ms: HTTP_TIMEOUT_MS, send_ms: HTTP_TIMEOUT_MS } },
    );
    const idle = await openWs(`ws://127.0.0.1:${port}/ws/idle`);
    const idleSince = performance.now();
    const idleClosedAt = idle.closed.then((code) => ({ code, atMs: performance.now() }));
    const busy = await openWs(`ws://127.0.0.1:${port}/ws/busy`);
    // Gaps longer than every HTTP timeout but shorter than the tunnel timeout.
    for (let i = 0; i < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 2 * HTTP_TIMEOUT_MS));
      busy.ws.send(`tick ${i}`);
      expect(await busy.next()).toBe(`tick ${i}`);
    }
    const { code, atMs } = await idleClosedAt;
    expect(code).toBe(1006);
    // Timers may fire a little early or (busy machine) late.
    expect(atMs - idleSince).toBeGreaterThanOrEqual(TUNNEL_TIMEOUT_MS - 50);
    expect(atMs - idleSince).toBeLessThan(TUNNEL_TIMEOUT_MS + 1000);
    expect(busy.ws.readyState).toBe(busy.ws.OPEN);
    expect(lb.pools.get('api_pool')!.servers[0]!.active).toBe(1);
    busy.ws.close();
    await busy.closed;
  });

  it('cuts a tunnel at once when its server is put in maint with on_marked_down: shutdown_sessions', async () => {
    const up = await wsUpstream();
    const { lb, port, log } = await startLb({ on_marked_down: 'shutdown_sessions', servers: [{ name: 'api1', address: up.address }] });
    const client = await openWs(`ws://127.0.0.1:${port}/ws/x`);
    const pool = lb.pools.get('api_pool')!;
    const server = pool.servers[0]!;
    expect(server.sessions?.size).toBe(1);
    lb.monitor!.setAdminState(pool, server, 'maint');
    expect(await client.closed).toBe(1006);
    await up.closed(0);
    expect(server.active).toBe(0);
    expect(server.sessions?.size).toBe(0);
    expect(upstreamErrors(log)).toEqual([expect.objectContaining({ code: 'LB_ERR_SESSION_SHUTDOWN', server: up.address, url: '/ws/x', status: null })]);
  });

  it('leaves tunnels alone when a server is marked down with on_marked_down: none', async () => {
    const up = await wsUpstream();
    const { lb, port } = await startLb({ servers: [{ name: 'api1', address: up.address }] });
    const client = await openWs(`ws://127.0.0.1:${port}/ws/x`);
    const pool = lb.pools.get('api_pool')!;
    lb.monitor!.setAdminState(pool, pool.servers[0]!, 'maint');
    client.ws.send('still here');
    expect(await client.next()).toBe('still here');
    client.ws.close();
    await client.closed;
  });

  it('destroys open tunnels when the LB closes', async () => {
    const up = await wsUpstream();
    const { lb, port } = await startLb({ servers: [{ address: up.address }] });
    const client = await openWs(`ws://127.0.0.1:${port}/ws/x`);
    const started = performance.now();
    await lb.close();
    expect(performance.now() - started).toBeLessThan(2000);
    expect(await client.closed).toBe(1006);
  });

  it('answers upgrade requests on redirect, deny and unmatched routes, and refuses one with a body', async () => {
    const up = await wsUpstream();
    const { port } = await startLb({ servers: [{ address: up.address }] }, {}, [
      { match: { prefix: '/old/' }, redirect: { status: 301, location: 'https://{host}{request_uri}' } },
      { match: { prefix: '/deny/' }, deny: true },
      { match: { prefix: '/ws/' }, proxy: { upstream: 'api_pool' } },
    ]);
    const redirect = await rawExchange(port, `GET /old/x?y=1 HTTP/1.1\r\nHost: a.example\r\n${UPGRADE_HEADERS}\r\n`);
    expect(redirect.text).toMatch(/^HTTP\/1\.1 301 Moved Permanently\r\n/);
    expect(redirect.text).toContain('\r\nLocation: https://a.example/old/x?y=1\r\n');
    expect(redirect.closed).toBe(true);
    expect(await rawExchange(port, `GET /deny/x HTTP/1.1\r\nHost: a.example\r\n${UPGRADE_HEADERS}\r\n`)).toEqual({ text: '', closed: true });
    expect((await rawExchange(port, `GET /nowhere HTTP/1.1\r\nHost: a.example\r\n${UPGRADE_HEADERS}\r\n`)).text).toMatch(/^HTTP\/1\.1 404 /);
    const withBody = await rawExchange(port, `POST /ws/x HTTP/1.1\r\nHost: a.example\r\nContent-Length: 3\r\n${UPGRADE_HEADERS}\r\nabc`);
    expect(withBody.text).toMatch(/^HTTP\/1\.1 400 /);
    expect(up.upgrades).toHaveLength(0);
  });

  it('leaves plain requests on the same route untouched', async () => {
    const up = await wsUpstream();
    const { port } = await startLb({ servers: [{ address: up.address }] });
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/ws/plain', agent: false }, (r) => {
          let body = '';
          r.setEncoding('utf8').on('data', (t: string) => (body += t));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });
    expect(res).toEqual({ status: 200, body: `${up.port} GET /plain` });
  });
});
