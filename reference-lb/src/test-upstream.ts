/*
 * Test-only helpers for the reference LB's own vitest suites: tiny real upstream
 * servers on 127.0.0.1 port 0 and a plain node:http client. Kept inside reference-lb/
 * because the LB must not import harness/ or fixtures/.
 */
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { WebSocket, WebSocketServer, type ClientOptions } from 'ws';
import { parseConfig } from './parse-config.ts';
import type { LbConfig } from './config-schema.ts';

/** What an upstream saw of one request. */
export interface SeenRequest {
  method: string;
  url: string;
  rawHeaders: string[];
  /** Local port of the LB's connection, to tell connections apart. */
  remotePort: number;
}

/** A running test upstream. */
export interface TestUpstream extends AsyncDisposable {
  address: string;
  port: number;
  requests: SeenRequest[];
  /** TCP connections accepted so far. */
  connections: number;
  /** TCP connections open right now. */
  openConnections(): number;
  server: http.Server;
  close(): Promise<void>;
}

/** Default handler: answers 200 with `<port> <method> <url>`. */
function echo(port: () => number): http.RequestListener {
  return (req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('Content-Type', 'text/plain');
      res.end(`${port()} ${req.method} ${req.url}`);
    });
  };
}

/** Starts an upstream; `handler` defaults to an echo of port, method and URL. */
export async function startTestUpstream(handler?: http.RequestListener): Promise<TestUpstream> {
  const server = http.createServer({ keepAliveTimeout: 30_000 });
  const sockets = new Set<Socket>();
  const upstream: TestUpstream = {
    address: '',
    port: 0,
    requests: [],
    connections: 0,
    openConnections: () => sockets.size,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
    [Symbol.asyncDispose]: () => upstream.close(),
  };
  server.on('connection', (socket: Socket) => {
    upstream.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const respond = handler ?? echo(() => upstream.port);
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    upstream.requests.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, remotePort: req.socket.remotePort ?? 0 });
    respond(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  upstream.port = (server.address() as AddressInfo).port;
  upstream.address = `127.0.0.1:${upstream.port}`;
  return upstream;
}

/** A 127.0.0.1 address nothing listens on (bound and released). */
export async function deadAddress(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}

/** Validates a config written as an object, the way a file would be. */
export function testConfig(input: unknown): LbConfig {
  return parseConfig(JSON.stringify(input), 'test.yaml');
}

/** A response read to its end. */
export interface TestResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

/** One request over a fresh or given agent; the body is read as UTF-8. */
export function sendRequest(
  port: number,
  path: string,
  options: { method?: string; headers?: http.OutgoingHttpHeaders | string[]; body?: string | Buffer; agent?: http.Agent | false; host?: string } = {},
): Promise<TestResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: options.host ?? '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The value of the last header `name` in a raw header list. */
export function rawHeader(raw: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === name) value = raw[i + 1];
  return value;
}

/** An address whose SYNs go unanswered: a listener in a frozen process with its accept queue full. */
export interface Blackhole extends AsyncDisposable {
  address: string;
  close(): Promise<void>;
}

const FROZEN_LISTENER = `
const server = require('node:net').createServer();
server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
  console.log(server.address().port);
  // Never return to the event loop: nothing is ever accepted.
  setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0), 20);
});
`;

/** Starts a listener that never accepts and fills its accept queue, so new connects hang. */
export async function startBlackhole(): Promise<Blackhole> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['-e', FROZEN_LISTENER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = Number(await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(String(d).trim()))));
  await new Promise((resolve) => setTimeout(resolve, 100));
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 2; i++) fillers.push(net.connect(port, '127.0.0.1').on('error', () => undefined));
  await new Promise((resolve) => setTimeout(resolve, 50));
  const close = async (): Promise<void> => {
    for (const s of fillers) s.destroy();
    child.kill('SIGKILL');
  };
  return { address: `127.0.0.1:${port}`, close, [Symbol.asyncDispose]: close };
}

/** Collects events as they arrive and lets a test wait for one (no sleeps). */
export class EventLog<T> {
  readonly all: T[] = [];
  private readonly waiters: Array<{ test: (e: T) => boolean; resolve: (e: T) => void }> = [];

  /** Pass as an `onEvent` sink. */
  readonly push = (event: T): void => {
    this.all.push(event);
    for (const w of [...this.waiters]) {
      if (w.test(event)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(event);
      }
    }
  };

  /** The first event at index `since` or later matching `test`, waiting up to `timeoutMs` for it. */
  waitFor(test: (e: T) => boolean, options: { since?: number; timeoutMs?: number; what?: string } = {}): Promise<T> {
    const found = this.all.slice(options.since ?? 0).find(test);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = {
        test,
        resolve: (e: T) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`timed out waiting for ${options.what ?? 'an event'}; got ${JSON.stringify(this.all.slice(-5))}`));
      }, options.timeoutMs ?? 10_000);
      this.waiters.push(waiter);
    });
  }
}

/** An upstream whose `/health` answers `health.status` (200 until changed); other paths echo like startTestUpstream. */
export interface CheckedUpstream extends TestUpstream {
  health: { status: number };
  /** Requests other than health checks. */
  traffic(): SeenRequest[];
}

export async function startCheckedUpstream(handler?: http.RequestListener): Promise<CheckedUpstream> {
  const health = { status: 200 };
  let port = 0;
  const fallback = handler ?? echo(() => port);
  const u = await startTestUpstream((req, res) => {
    if (req.url === '/health') {
      res.writeHead(health.status, { 'Content-Length': '0' });
      res.end();
      return;
    }
    fallback(req, res);
  });
  port = u.port;
  return Object.assign(u, { health, traffic: () => u.requests.filter((r) => r.url !== '/health') });
}

/** A JSON request to the admin API. */
export async function adminRequest(
  port: number,
  method: string,
  path: string,
  options: { token?: string | undefined; body?: unknown } = {},
): Promise<{ status: number; json: any; headers: http.IncomingHttpHeaders }> {
  const headers: http.OutgoingHttpHeaders = {};
  if (options.token !== undefined) headers['Authorization'] = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['Content-Type'] = 'application/json';
  }
  const res = await sendRequest(port, path, { method, headers, body });
  return { status: res.status, json: res.body === '' ? undefined : JSON.parse(res.body), headers: res.headers };
}

/** What a WebSocket test upstream sends first on every connection: what it saw of the upgrade request. */
export interface WsHello {
  port: number;
  url: string;
  rawHeaders: string[];
}

/** A CheckedUpstream that also accepts WebSockets: hello first, then every message echoed (text or binary). */
export interface WsUpstream extends CheckedUpstream {
  wss: WebSocketServer;
  /** Upgrade requests seen, in order. */
  upgrades: SeenRequest[];
  /** Server-side WebSockets open right now. */
  open: Set<WebSocket>;
  /** Resolves when the server side of the n-th WebSocket (0-based) has closed. */
  closed(n: number): Promise<void>;
}

export async function startWsUpstream(handler?: http.RequestListener): Promise<WsUpstream> {
  const u = await startCheckedUpstream(handler);
  const wss = new WebSocketServer({ noServer: true });
  const upgrades: SeenRequest[] = [];
  const open = new Set<WebSocket>();
  const closings: Array<Promise<void>> = [];
  u.server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    upgrades.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, remotePort: socket.remotePort ?? 0 });
    wss.handleUpgrade(req, socket, head, (ws) => {
      open.add(ws);
      closings.push(new Promise((resolve) => ws.on('close', () => resolve())));
      ws.on('close', () => open.delete(ws));
      ws.on('error', () => undefined);
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      const hello: WsHello = { port: u.port, url: req.url ?? '', rawHeaders: req.rawHeaders };
      ws.send(JSON.stringify(hello));
    });
  });
  const close = u.close;
  return Object.assign(u, {
    wss,
    upgrades,
    open,
    closed: (n: number) => closings[n] ?? Promise.reject(new Error(`no WebSocket #${n}`)),
    close: async () => {
      for (const ws of open) ws.terminate();
      wss.close();
      await close();
    },
  });
}

/** A client WebSocket that is open, with the 101 response head and the upstream's hello. */
export interface OpenWs {
  ws: WebSocket;
  response: http.IncomingMessage;
  hello: WsHello;
  /** Resolves with the next message (as text, or a Buffer for binary). */
  next(): Promise<string | Buffer>;
  /** Resolves with the close code once the connection is closed. */
  closed: Promise<number>;
}

/** Opens a WebSocket and waits for the hello; rejects with `unexpected-response <status>` for a non-101 answer. */
export function openWs(url: string, options: ClientOptions = {}): Promise<OpenWs> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    const queue: Array<string | Buffer> = [];
    const waiting: Array<(m: string | Buffer) => void> = [];
    let response: http.IncomingMessage | undefined;
    const closed = new Promise<number>((res) =>
      ws.on('close', (code) => {
        res(code);
        reject(new Error(`closed with ${code} before the hello`));
      }),
    );
    ws.on('upgrade', (res) => (response = res));
    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      reject(Object.assign(new Error(`unexpected-response ${res.statusCode}`), { status: res.statusCode, headers: res.headers }));
    });
    ws.on('error', reject);
    ws.on('message', (data: Buffer, isBinary) => {
      const m = isBinary ? data : data.toString('utf8');
      const w = waiting.shift();
      if (w) w(m);
      else queue.push(m);
    });
    const next = (): Promise<string | Buffer> => {
      const m = queue.shift();
      return m !== undefined ? Promise.resolve(m) : new Promise((res) => waiting.push(res));
    };
    void next().then((first) => resolve({ ws, response: response as http.IncomingMessage, hello: JSON.parse(String(first)) as WsHello, next, closed }));
  });
}

/** A TestUpstream behind a recording TCP relay: `raw[i]` holds every byte the LB sent on its i-th upstream connection. */
export interface RecordingUpstream extends TestUpstream {
  raw: Buffer[];
  /** Bytes the LB sent upstream on all connections. */
  rawBytes(): number;
}

/** Starts an echo upstream behind a relay that records raw bytes per upstream connection (judge by what arrived, not by what a parser made of it). */
export async function startRecordingUpstream(handler?: http.RequestListener): Promise<RecordingUpstream> {
  const inner = await startTestUpstream(handler);
  const innerPort = inner.port;
  const innerClose = inner.close;
  const raw: Buffer[] = [];
  const sockets = new Set<Socket>();
  const relay = net.createServer((client) => {
    const index = raw.push(Buffer.alloc(0)) - 1;
    const server = net.connect(innerPort, '127.0.0.1');
    for (const s of [client, server]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => (s === client ? server : client).destroy());
    }
    client.on('data', (chunk: Buffer) => (raw[index] = Buffer.concat([raw[index] as Buffer, chunk])));
    client.pipe(server);
    server.pipe(client);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const port = (relay.address() as AddressInfo).port;
  const close = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => relay.close(() => resolve()));
    await innerClose();
  };
  return Object.assign(inner, {
    address: `127.0.0.1:${port}`,
    port,
    raw,
    rawBytes: () => raw.reduce((n, b) => n + b.length, 0),
    close,
    [Symbol.asyncDispose]: close,
  });
}

/** What the LB answered to raw bytes: everything it sent until it closed the connection (or `timeoutMs` passed). */
export interface RawExchange {
  /** Status of the first response, 0 when none came. */
  status: number;
  /** Every byte received, as latin1. */
  text: string;
  /** The LB closed the connection (false: still open at `timeoutMs`). */
  closed: boolean;
}

/** Sends `bytes` on a fresh connection, half-closes nothing, and reads until the LB closes or `timeoutMs` passes. */
export function sendRaw(port: number, bytes: string | Buffer, timeoutMs = 2000): Promise<RawExchange> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, text, closed });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  });
}
