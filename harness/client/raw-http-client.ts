/**
 * A raw HTTP/1.1 client for hostile input: it writes exact bytes (no HTTP library rewrites
 * them) over TCP, or TLS when the endpoint is TLS, and reads the answers with its own strict
 * response parser (RFC 9112 §6.3 framing: Content-Length, chunked, or until close).
 */
import net from 'node:net';
import tls from 'node:tls';
import { LbdrillError } from '../errors.ts';

/** Epoch milliseconds (float) on the monotonic clock. */
function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** A response as read from the connection. */
export interface RawResponse {
  status: number;
  reason: string;
  /** field lines as received, name case kept. */
  headers: Array<[name: string, value: string]>;
  body: Buffer;
  /** the response's bytes as received. */
  raw: Buffer;
  receivedAtMs: number;
}

/** What reading the next response came to. */
export type RawRead =
  | { kind: 'response'; response: RawResponse }
  /** the peer closed the connection with no (further) response. */
  | { kind: 'closed'; atMs: number }
  /** no complete response within the timeout; the connection is still open. */
  | { kind: 'timeout'; afterMs: number }
  /** bytes that are no HTTP/1.1 response (an HTTP/0.9 answer, garbage); reading stops there. */
  | { kind: 'invalid'; bytes: Buffer; reason: string };

/** Where to connect; `ca` is trusted for TLS endpoints. */
export interface RawEndpoint {
  host: string;
  port: number;
  tls: boolean;
  serverName: string;
  ca?: string;
}

type Parsed = { kind: 'response'; response: Omit<RawResponse, 'receivedAtMs'>; consumed: number } | { kind: 'incomplete' } | { kind: 'invalid'; reason: string };

const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: ([^\r\n]*))?$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function headerValues(headers: RawResponse['headers'], name: string): string[] {
  return headers.filter(([n]) => n.toLowerCase() === name).flatMap(([, v]) => v.split(',').map((s) => s.trim()));
}

/** Parses one response from the start of `buf` (strict CRLF); `closed` ends a close-delimited body. */
export function parseResponse(buf: Buffer, closed: boolean, requestMethod = 'GET'): Parsed {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) {
    if (buf.length >= 5 && !buf.subarray(0, 5).equals(Buffer.from('HTTP/'))) return { kind: 'invalid', reason: 'no HTTP/1.x status line' };
    return closed && buf.length > 0 ? { kind: 'invalid', reason: 'connection closed inside a response head' } : { kind: 'incomplete' };
  }
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const match = STATUS_LINE.exec(lines[0] ?? '');
  if (!match) return { kind: 'invalid', reason: `invalid status line ${JSON.stringify(lines[0])}` };
  const status = Number(match[1]);
  const headers: Array<[string, string]> = [];
  for (const l of lines.slice(1)) {
    const colon = l.indexOf(':');
    const name = l.slice(0, Math.max(0, colon));
    if (colon < 0 || !TOKEN.test(name) || /[\r\n\0]/.test(l)) return { kind: 'invalid', reason: `invalid field line ${JSON.stringify(l)}` };
    headers.push([name, l.slice(colon + 1).trim()]);
  }
  const bodyAt = end + 4;
  const done = (bodyEnd: number, body: Buffer): Parsed => ({
    kind: 'response',
    response: { status, reason: match[2] ?? '', headers, body, raw: buf.subarray(0, bodyEnd) },
    consumed: bodyEnd,
  });
  // RFC 9112 §6.3 rules 1-2: no body for 1xx, 204, 304 and answers to HEAD.
  if (status < 200 || status === 204 || status === 304 || requestMethod === 'HEAD') return done(bodyAt, Buffer.alloc(0));
  const te = headerValues(headers, 'transfer-encoding');
  if (te.length > 0) {
    if (te[te.length - 1] !== 'chunked') return closed ? done(buf.length, buf.subarray(bodyAt)) : { kind: 'incomplete' };
    const parts: Buffer[] = [];
    let at = bodyAt;
    for (;;) {
      const eol = buf.indexOf('\r\n', at);
      if (eol < 0) return closed ? { kind: 'invalid', reason: 'connection closed inside a chunked body' } : { kind: 'incomplete' };
      const size = parseInt(buf.subarray(at, eol).toString('latin1').split(';')[0] ?? '', 16);
      if (!Number.isSafeInteger(size) || size < 0) return { kind: 'invalid', reason: 'invalid chunk size' };
      at = eol + 2;
      if (size === 0) {
        const trailerEnd = buf.indexOf('\r\n', at) === at ? at + 2 : buf.indexOf('\r\n\r\n', at) >= 0 ? buf.indexOf('\r\n\r\n', at) + 4 : -1;
        if (trailerEnd < 0) return closed ? { kind: 'invalid', reason: 'connection closed inside trailers' } : { kind: 'incomplete' };
        return done(trailerEnd, Buffer.concat(parts));
      }
      if (at + size + 2 > buf.length) return closed ? { kind: 'invalid', reason: 'connection closed inside a chunk' } : { kind: 'incomplete' };
      parts.push(buf.subarray(at, at + size));
      at += size + 2;
    }
  }
  const cl = headerValues(headers, 'content-length');
  if (cl.length > 0) {
    if (new Set(cl).size !== 1 || !/^\d+$/.test(cl[0] ?? '')) return { kind: 'invalid', reason: `invalid Content-Length ${JSON.stringify(cl.join(', '))}` };
    const bodyEnd = bodyAt + Number(cl[0]);
    if (bodyEnd > buf.length) return closed ? { kind: 'invalid', reason: 'connection closed inside a body' } : { kind: 'incomplete' };
    return done(bodyEnd, buf.subarray(bodyAt, bodyEnd));
  }
  return closed ? done(buf.length, buf.subarray(bodyAt)) : { kind: 'incomplete' };
}

/** One raw connection to the LB; `[Symbol.asyncDispose]` destroys it. */
export class RawHttpConnection {
  readonly openedAtMs: number;
  /** every response read so far, in order. */
  readonly responses: RawResponse[] = [];
  #socket: net.Socket;
  #buffer = Buffer.alloc(0);
  #closedAtMs: number | undefined;
  #invalid: { bytes: Buffer; reason: string } | undefined;
  #wake: (() => void) | undefined;

  private constructor(socket: net.Socket) {
    this.openedAtMs = nowMs();
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#wake?.();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#closedAtMs = nowMs();
      this.#wake?.();
    });
  }

  /** Connects (and completes the TLS handshake) within timeoutMs. */
  static async open(endpoint: RawEndpoint, timeoutMs: number): Promise<RawHttpConnection> {
    const socket = endpoint.tls
      ? tls.connect({ host: endpoint.host, port: endpoint.port, servername: endpoint.serverName, ...(endpoint.ca ? { ca: endpoint.ca } : {}) })
      : net.connect({ host: endpoint.host, port: endpoint.port });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new LbdrillError('LBDRILL_ERR_TIMEOUT', `no connection to ${endpoint.host}:${endpoint.port} within ${timeoutMs} ms`)), timeoutMs);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      socket.once('error', fail);
      socket.once(endpoint.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.off('error', fail);
        resolve();
      });
    });
    return new RawHttpConnection(socket);
  }

  /** The peer closed (or reset) the connection. */
  get closed(): boolean {
    return this.#closedAtMs !== undefined;
  }

  get closedAtMs(): number | undefined {
    return this.#closedAtMs;
  }

  /** Writes the pieces in order, each flushed to the kernel before the next. */
  async write(pieces: readonly Buffer[]): Promise<void> {
    for (const piece of pieces) {
      if (this.closed || this.#socket.destroyed) return;
      await new Promise<void>((resolve) => this.#socket.write(piece, () => resolve()));
    }
  }

  /** The next response, or that the connection closed, or a timeout after timeoutMs (the connection stays open). */
  async read(timeoutMs: number, requestMethod = 'GET'): Promise<RawRead> {
    const started = nowMs();
    for (;;) {
      if (this.#invalid) return { kind: 'invalid', ...this.#invalid };
      const parsed = parseResponse(this.#buffer, this.closed, requestMethod);
      if (parsed.kind === 'response') {
        this.#buffer = this.#buffer.subarray(parsed.consumed);
        const response = { ...parsed.response, receivedAtMs: nowMs() };
        this.responses.push(response);
        return { kind: 'response', response };
      }
      if (parsed.kind === 'invalid') {
        this.#invalid = { bytes: this.#buffer, reason: parsed.reason };
        continue;
      }
      if (this.closed) return { kind: 'closed', atMs: this.#closedAtMs ?? started };
      const left = timeoutMs - (nowMs() - started);
      if (left <= 0) return { kind: 'timeout', afterMs: timeoutMs };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /** Ends the connection at once. */
  destroy(): void {
    this.#socket.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.destroy();
  }
}
