import cluster from 'node:cluster';
import { connect, createServer, Socket, type SocketConstructorOpts } from 'node:net';

/*
 * SPIKE (bench/spikes/, not wired into reference-lb): an HTTP/1.1 reverse proxy on raw
 * net.Sockets, to measure what Node costs per request without node:http and undici.
 *
 *   node --import tsx bench/spikes/raw-proxy.ts --listen 127.0.0.1:8080 \
 *        --backend 127.0.0.1:9001 --backend 127.0.0.1:9002 [--workers 2]
 *
 * What it does: keep-alive clients; incremental request-head parsing (request line,
 * Content-Length / Transfer-Encoding: chunked framing, Connection); round robin over the
 * backends with a pool of idle keep-alive upstream sockets per backend; the request head
 * rewritten (hop-by-hop headers dropped, Host kept, X-Forwarded-For/-Proto/-Host and
 * X-Real-IP set, as the bench's nginx config does) and body bytes passed on as the Buffers
 * the socket produced (no copy); response head parsed for framing (Content-Length,
 * chunked, read-until-close, HEAD/204/304 without body), hop-by-hop headers dropped, 1xx
 * (100-continue) passed on; body passed on; backpressure both ways (pause/resume on
 * drain). Pipelined requests are served one after the other (the next is parsed only
 * after the previous response ended).
 *
 * What it does not do (the fallback territory): Upgrade/CONNECT (501 here), HTTP/1.0
 * clients receiving chunked responses (would need de-chunking), timeouts, header size
 * limits beyond a cap, retries except one for an idempotent body-less request whose
 * reused upstream closed before answering, TLS, and no access log.
 */

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_IDLE_PER_BACKEND = 64;
/** body bytes up to this size are copied next to the head into one write; larger go as a second (corked) write. */
const COALESCE_BYTES = 4096;
const CRLF2 = Buffer.from('\r\n\r\n');
/** upstream read size in bytes (0: node's default 64 KiB reads with 'data' events). */
const READ_BYTES = Number(process.env.SPIKE_READ_KIB ?? 0) * 1024;
/**
 * With READ_BYTES: reads outside a large body go into this one shared buffer and are copied
 * out at once (a few hundred bytes for a small exchange; safe to share: each read is handled
 * synchronously before the next read of any socket); reads inside a large body go into a
 * fresh READ_BYTES buffer that is handed on without a copy.
 */
const SHARED_READ = Buffer.allocUnsafe(64 * 1024);
/** A body with more than this left is "large". */
const LARGE_BODY = 64 * 1024;

function userBufferRead(owner: { wantsLargeRead(): boolean; onData(chunk: Buffer): void }) {
  return {
    buffer: (): Uint8Array => (owner.wantsLargeRead() ? Buffer.allocUnsafe(READ_BYTES) : SHARED_READ),
    callback: (n: number, buf: Uint8Array): boolean => {
      owner.onData(buf === SHARED_READ ? Buffer.from(SHARED_READ.subarray(0, n)) : (buf as Buffer).subarray(0, n));
      return true;
    },
  };
}

// ---------------------------------------------------------------------------------------
// Chunked framing: finds where a chunked body ends, without touching the bytes.

const enum Ck {
  Size,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  TrailerLine,
  FinalLf,
}

class ChunkedScanner {
  private state = Ck.Size;
  private size = 0;
  private digits = 0;
  private left = 0;

  /** Returns the offset just past the end of the chunked body within buf[start, end), or -1 when it goes on. Throws on bad framing. */
  scan(buf: Buffer, start: number, end: number): number {
    let i = start;
    while (i < end) {
      switch (this.state) {
        case Ck.Data: {
          const n = Math.min(this.left, end - i);
          this.left -= n;
          i += n;
          if (this.left === 0) this.state = Ck.DataCr;
          continue;
        }
        case Ck.Size: {
          const c = buf[i]!;
          const v = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
          if (v >= 0) {
            if (++this.digits > 12) throw new Error('chunk size too large');
            this.size = this.size * 16 + v;
          } else if (this.digits > 0 && (c === 59 || c === 32 || c === 9)) this.state = Ck.Ext;
          else if (this.digits > 0 && c === 13) this.state = Ck.SizeLf;
          else throw new Error('bad chunk size');
          i++;
          continue;
        }
        case Ck.Ext: {
          const cr = buf.indexOf(13, i);
          if (cr < 0 || cr >= end) return -1;
          i = cr + 1;
          this.state = Ck.SizeLf;
          continue;
        }
        case Ck.SizeLf:
          if (buf[i++] !== 10) throw new Error('bad chunk line');
          if (this.size === 0) this.state = Ck.TrailerStart;
          else {
            this.left = this.size;
            this.state = Ck.Data;
          }
          this.size = 0;
          this.digits = 0;
          continue;
        case Ck.DataCr:
          if (buf[i++] !== 13) throw new Error('bad chunk end');
          this.state = Ck.DataLf;
          continue;
        case Ck.DataLf:
          if (buf[i++] !== 10) throw new Error('bad chunk end');
          this.state = Ck.Size;
          continue;
        case Ck.TrailerStart:
          this.state = buf[i++] === 13 ? Ck.FinalLf : Ck.TrailerLine;
          continue;
        case Ck.TrailerLine: {
          const lf = buf.indexOf(10, i);
          if (lf < 0 || lf >= end) return -1;
          i = lf + 1;
          this.state = Ck.TrailerStart;
          continue;
        }
        case Ck.FinalLf:
          if (buf[i++] !== 10) throw new Error('bad chunked end');
          return i;
      }
    }
    return -1;
  }
}

// ---------------------------------------------------------------------------------------
// Upstreams

interface Backend {
  host: string;
  port: number;
  idle: Upstream[];
}

/** How a body is framed: a byte count, chunked, until the connection closes, or none. */
const enum Framing {
  None,
  Length,
  Chunked,
  UntilClose,
}

class Upstream {
  readonly sock: Socket;
  readonly backend: Backend;
  client: ClientConn | undefined;
  /** this socket already carried a response (a close before any byte may be a stale reuse). */
  used = false;
  private head: Buffer | undefined;
  private headDone = false;
  private receivedAny = false;
  private framing = Framing.None;
  private left = 0;
  private chunked: ChunkedScanner | undefined;
  private reusable = true;
  private waitingDrain = false;
  closed = false;

  constructor(backend: Backend) {
    this.backend = backend;
    if (READ_BYTES > 0) {
      // Experiment (SPIKE_READ_KIB): larger reads into a fresh buffer per read (handed on, not reused): fewer syscalls and callbacks.
      this.sock = connect({
        host: backend.host,
        port: backend.port,
        noDelay: true,
        onread: userBufferRead(this),
      });
    } else {
      this.sock = connect({ host: backend.host, port: backend.port, noDelay: true });
      this.sock.on('data', (chunk: Buffer) => this.onData(chunk));
    }
    this.sock.on('error', () => this.onClose());
    this.sock.on('close', () => this.onClose());
  }

  /** Starts a response cycle for `client`. */
  begin(client: ClientConn): void {
    this.client = client;
    this.head = undefined;
    this.headDone = false;
    this.receivedAny = false;
    this.framing = Framing.None;
    this.chunked = undefined;
    this.reusable = true;
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    const idle = this.backend.idle;
    const at = idle.indexOf(this);
    if (at >= 0) idle.splice(at, 1);
    const client = this.client;
    this.client = undefined;
    if (client === undefined) return;
    if (this.headDone && this.framing === Framing.UntilClose) {
      client.responseEnded(false);
      return;
    }
    client.upstreamFailed(this.used && !this.receivedAny);
  }

  wantsLargeRead(): boolean {
    return this.headDone && (this.framing === Framing.Chunked || this.framing === Framing.UntilClose || (this.framing === Framing.Length && this.left > LARGE_BODY));
  }

  onData(chunk: Buffer): void {
    const client = this.client;
    if (client === undefined) {
      // bytes on an idle connection: nothing may come, drop the connection
      this.sock.destroy();
      return;
    }
    this.receivedAny = true;
    if (!this.headDone) {
      let buf = this.head === undefined ? chunk : Buffer.concat([this.head, chunk]);
      for (;;) {
        const end = buf.indexOf(CRLF2);
        if (end < 0) {
          if (buf.length > MAX_HEAD_BYTES) return this.fail();
          this.head = buf;
          return;
        }
        const status = parseStatus(buf);
        if (status < 0) return this.fail();
        if (status >= 100 && status < 200) {
          if (status === 101) return this.fail(); // upgrades are not this path's business
          client.write(buf.subarray(0, end + 4)); // 100 Continue, 103 Early Hints: passed on
          buf = buf.subarray(end + 4);
          if (buf.length === 0) {
            this.head = undefined;
            return;
          }
          continue;
        }
        const text = buf.toString('latin1', 0, end);
        const head = this.rewriteHead(text, status, client);
        if (head === undefined) return this.fail();
        this.headDone = true;
        this.head = undefined;
        const rest = end + 4 < buf.length ? buf.subarray(end + 4) : undefined;
        if (rest !== undefined && rest.length <= COALESCE_BYTES && this.framing !== Framing.None) {
          const [take, done] = this.bodyTake(rest);
          const out = Buffer.allocUnsafe(head.length + take);
          out.write(head, 0, 'latin1');
          rest.copy(out, head.length, 0, take);
          this.send(client, out);
          if (done) return this.finish(client, take < rest.length);
          return;
        }
        this.sendString(client, head);
        if (this.framing === Framing.None) return this.finish(client, rest !== undefined);
        if (rest !== undefined) this.body(client, rest);
        return;
      }
    }
    this.body(client, chunk);
  }

  /** How many bytes of `buf` belong to the body, and whether the body ends there. */
  private bodyTake(buf: Buffer): [number, boolean] {
    switch (this.framing) {
      case Framing.Length: {
        const take = Math.min(this.left, buf.length);
        this.left -= take;
        return [take, this.left === 0];
      }
      case Framing.Chunked: {
        const at = this.chunked!.scan(buf, 0, buf.length);
        return at < 0 ? [buf.length, false] : [at, true];
      }
      case Framing.UntilClose:
        return [buf.length, false];
      default:
        return [0, true];
    }
  }

  private body(client: ClientConn, chunk: Buffer): void {
    let take: number;
    let done: boolean;
    try {
      [take, done] = this.bodyTake(chunk);
    } catch {
      return this.fail();
    }
    this.send(client, take === chunk.length ? chunk : chunk.subarray(0, take));
    if (done) this.finish(client, take < chunk.length);
  }

  private send(client: ClientConn, buf: Buffer): void {
    if (!client.write(buf) && !this.waitingDrain) this.pauseForClient(client);
  }

  private sendString(client: ClientConn, s: string): void {
    if (!client.writeString(s) && !this.waitingDrain) this.pauseForClient(client);
  }

  private pauseForClient(client: ClientConn): void {
    this.waitingDrain = true;
    this.sock.pause();
    client.sock.once('drain', () => {
      this.waitingDrain = false;
      this.sock.resume();
    });
  }

  private finish(client: ClientConn, extraBytes: boolean): void {
    this.client = undefined;
    this.used = true;
    if (extraBytes) this.reusable = false;
    if (this.waitingDrain) {
      // the response is complete: the socket has nothing more to say, reading may go on
      this.waitingDrain = false;
      this.sock.resume();
    }
    if (this.reusable && !this.closed && this.backend.idle.length < MAX_IDLE_PER_BACKEND) this.backend.idle.push(this);
    else this.sock.destroy();
    client.responseEnded(true);
  }

  private fail(): void {
    const client = this.client;
    this.client = undefined;
    this.closed = true;
    this.sock.destroy();
    client?.upstreamFailed(false);
  }

  /** The response head for the client (string, latin1), and this response's framing. */
  private rewriteHead(text: string, status: number, client: ClientConn): string | undefined {
    let out = '';
    let lineStart = 0;
    let contentLength = -1;
    let chunked = false;
    let pos = text.indexOf('\r\n');
    const statusLine = pos < 0 ? text : text.slice(0, pos);
    out = statusLine;
    if (statusLine.charCodeAt(7) === 48 /* HTTP/1.0 */) this.reusable = false;
    while (pos >= 0) {
      lineStart = pos + 2;
      pos = text.indexOf('\r\n', lineStart);
      const line = pos < 0 ? text.slice(lineStart) : text.slice(lineStart, pos);
      const colon = line.indexOf(':');
      if (colon <= 0) return undefined;
      const c0 = line.charCodeAt(0) | 0x20;
      if (c0 === 99 /* c */ || c0 === 107 /* k */ || c0 === 116 /* t */ || c0 === 112 /* p */) {
        const name = line.slice(0, colon).toLowerCase();
        if (name === 'content-length') {
          const v = Number(line.slice(colon + 1).trim());
          if (!Number.isSafeInteger(v) || v < 0 || (contentLength >= 0 && contentLength !== v)) return undefined;
          contentLength = v;
        } else if (name === 'transfer-encoding') {
          if (!/(^|,)\s*chunked\s*$/i.test(line.slice(colon + 1))) return undefined; // only chunked-last framing on this path
          chunked = true;
        } else if (name === 'connection') {
          if (/close/i.test(line.slice(colon + 1))) this.reusable = false;
          continue;
        } else if (name === 'keep-alive' || name === 'proxy-connection') continue;
      }
      out += '\r\n' + line;
    }
    if (chunked && contentLength >= 0) return undefined;
    if (client.isHead || status === 204 || status === 304) this.framing = Framing.None;
    else if (chunked) {
      this.framing = Framing.Chunked;
      this.chunked = new ChunkedScanner();
    } else if (contentLength >= 0) {
      this.framing = contentLength === 0 ? Framing.None : Framing.Length;
      this.left = contentLength;
    } else {
      this.framing = Framing.UntilClose;
      this.reusable = false;
      client.keepAlive = false;
    }
    if (!client.keepAlive) out += '\r\nConnection: close';
    return out + '\r\n\r\n';
  }
}

function parseStatus(buf: Buffer): number {
  // "HTTP/1.x NNN"
  if (buf.length < 12 || buf[0] !== 72 || buf[4] !== 47 || buf[8] !== 32) return -1;
  const a = buf[9]! - 48;
  const b = buf[10]! - 48;
  const c = buf[11]! - 48;
  if (a < 1 || a > 5 || b < 0 || b > 9 || c < 0 || c > 9) return -1;
  return a * 100 + b * 10 + c;
}

// ---------------------------------------------------------------------------------------
// Clients

let backends: Backend[] = [];
let rr = 0;

function acquire(): Upstream {
  const backend = backends[rr++ % backends.length]!;
  for (;;) {
    const u = backend.idle.pop();
    if (u === undefined) return new Upstream(backend);
    if (!u.closed) return u;
  }
}

const enum St {
  Head,
  Body,
  Waiting,
  Closed,
}

const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';
const BAD_GATEWAY = 'HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';
const NOT_IMPLEMENTED = 'HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';

class ClientConn {
  readonly sock: Socket;
  private readonly ip: string;
  private state = St.Head;
  /** unparsed bytes: a partial head, or bytes after a complete request (pipelining). */
  private pending: Buffer | undefined;
  keepAlive = true;
  isHead = false;
  private upstream: Upstream | undefined;
  private bodyFraming = Framing.None;
  private bodyLeft = 0;
  private chunked: ChunkedScanner | undefined;
  /** the request head as sent upstream, for the one retry of a stale pooled connection. */
  private sentHead = '';
  private retriable = false;
  private waitingDrain = false;
  private responseStarted = false;

  constructor(sock: Socket, userBuffer = false) {
    this.sock = sock;
    sock.setNoDelay(true);
    this.ip = sock.remoteAddress ?? '';
    if (!userBuffer) sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('error', () => this.close());
    sock.on('close', () => this.close());
    sock.on('end', () => {
      // the client half-closed: answer what is in flight, then close
      this.keepAlive = false;
      if (this.state === St.Head) this.close();
    });
  }

  write(buf: Buffer): boolean {
    this.responseStarted = true;
    return this.state === St.Closed ? true : this.sock.write(buf);
  }

  writeString(s: string): boolean {
    this.responseStarted = true;
    return this.state === St.Closed ? true : this.sock.write(s, 'latin1');
  }

  private close(): void {
    if (this.state === St.Closed) return;
    this.state = St.Closed;
    const u = this.upstream;
    this.upstream = undefined;
    if (u !== undefined) {
      u.client = undefined;
      u.sock.destroy();
    }
    this.sock.destroy();
  }

  private reject(response: string): void {
    this.sock.end(response, 'latin1');
    this.state = St.Closed;
    const u = this.upstream;
    this.upstream = undefined;
    if (u !== undefined) {
      u.client = undefined;
      u.sock.destroy();
    }
  }

  wantsLargeRead(): boolean {
    return this.state === St.Body && (this.bodyFraming === Framing.Chunked || this.bodyLeft > LARGE_BODY);
  }

  onData(chunk: Buffer): void {
    switch (this.state) {
      case St.Head:
        this.pending = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
        this.parse();
        return;
      case St.Body:
        this.requestBody(chunk);
        return;
      case St.Waiting:
        // a pipelined request: keep it until the response in flight has ended
        this.pending = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
        this.sock.pause();
        return;
      default:
        return;
    }
  }

  private parse(): void {
    const buf = this.pending!;
    const end = buf.indexOf(CRLF2);
    if (end < 0) {
      if (buf.length > MAX_HEAD_BYTES) this.reject(BAD_REQUEST);
      return;
    }
    const text = buf.toString('latin1', 0, end);
    const rest = end + 4 < buf.length ? buf.subarray(end + 4) : undefined;
    this.pending = undefined;
    const head = this.requestHead(text);
    if (head === undefined) return; // rejected
    const u = acquire();
    this.upstream = u;
    u.begin(this);
    this.sentHead = head;
    this.retriable = this.bodyFraming === Framing.None && u.used;
    this.responseStarted = false;
    if (this.bodyFraming === Framing.None) {
      this.state = St.Waiting;
      u.sock.write(head, 'latin1');
      if (rest !== undefined) {
        this.pending = rest;
        this.sock.pause();
      }
      return;
    }
    this.state = St.Body;
    if (rest === undefined) {
      u.sock.write(head, 'latin1');
      return;
    }
    u.sock.cork();
    u.sock.write(head, 'latin1');
    this.requestBody(rest);
    u.sock.uncork();
  }

  /** The request head for the upstream, or undefined after rejecting the request. */
  private requestHead(text: string): string | undefined {
    let pos = text.indexOf('\r\n');
    const requestLine = pos < 0 ? text : text.slice(0, pos);
    const sp1 = requestLine.indexOf(' ');
    const sp2 = requestLine.lastIndexOf(' ');
    if (sp1 <= 0 || sp2 <= sp1) return void this.reject(BAD_REQUEST);
    const method = requestLine.slice(0, sp1);
    const version = requestLine.slice(sp2 + 1);
    if (version !== 'HTTP/1.1' && version !== 'HTTP/1.0') return void this.reject(BAD_REQUEST);
    if (method === 'CONNECT') return void this.reject(NOT_IMPLEMENTED);
    this.isHead = method === 'HEAD';
    let keepAlive = version === 'HTTP/1.1';
    let contentLength = -1;
    let chunked = false;
    let host = '';
    let xff = '';
    let out = requestLine.slice(0, sp2) + ' HTTP/1.1';
    while (pos >= 0) {
      const lineStart = pos + 2;
      pos = text.indexOf('\r\n', lineStart);
      const line = pos < 0 ? text.slice(lineStart) : text.slice(lineStart, pos);
      const colon = line.indexOf(':');
      if (colon <= 0 || line.charCodeAt(colon - 1) === 32) return void this.reject(BAD_REQUEST);
      const c0 = line.charCodeAt(0) | 0x20;
      // only names starting with c, h, k, p, t, u, x are looked at
      if (c0 === 99 || c0 === 104 || c0 === 107 || c0 === 112 || c0 === 116 || c0 === 117 || c0 === 120) {
        const name = line.slice(0, colon).toLowerCase();
        switch (name) {
          case 'content-length': {
            const v = Number(line.slice(colon + 1).trim());
            if (!Number.isSafeInteger(v) || v < 0 || (contentLength >= 0 && contentLength !== v)) return void this.reject(BAD_REQUEST);
            contentLength = v;
            break;
          }
          case 'transfer-encoding':
            if (!/^\s*chunked\s*$/i.test(line.slice(colon + 1))) return void this.reject(NOT_IMPLEMENTED);
            chunked = true;
            break;
          case 'connection': {
            const v = line.slice(colon + 1).toLowerCase();
            if (v.includes('close')) keepAlive = false;
            else if (v.includes('keep-alive')) keepAlive = true;
            if (v.includes('upgrade')) return void this.reject(NOT_IMPLEMENTED); // fallback territory
            continue;
          }
          case 'host':
            host = line.slice(colon + 1).trim();
            break;
          case 'x-forwarded-for':
            xff = line.slice(colon + 1).trim();
            continue;
          case 'keep-alive':
          case 'proxy-connection':
          case 'upgrade':
          case 'te':
          case 'x-forwarded-proto':
          case 'x-forwarded-host':
          case 'x-real-ip':
            continue;
        }
      }
      out += '\r\n' + line;
    }
    if (chunked && contentLength >= 0) return void this.reject(BAD_REQUEST); // request smuggling shape
    this.keepAlive = keepAlive;
    if (chunked) {
      this.bodyFraming = Framing.Chunked;
      this.chunked = new ChunkedScanner();
    } else if (contentLength > 0) {
      this.bodyFraming = Framing.Length;
      this.bodyLeft = contentLength;
    } else this.bodyFraming = Framing.None;
    return `${out}\r\nX-Forwarded-For: ${xff === '' ? this.ip : `${xff}, ${this.ip}`}\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: ${host}\r\nX-Real-IP: ${this.ip}\r\n\r\n`;
  }

  private requestBody(chunk: Buffer): void {
    const u = this.upstream!;
    let take: number;
    let done: boolean;
    if (this.bodyFraming === Framing.Length) {
      take = Math.min(this.bodyLeft, chunk.length);
      this.bodyLeft -= take;
      done = this.bodyLeft === 0;
    } else {
      let at: number;
      try {
        at = this.chunked!.scan(chunk, 0, chunk.length);
      } catch {
        return this.reject(BAD_REQUEST);
      }
      take = at < 0 ? chunk.length : at;
      done = at >= 0;
    }
    const ok = u.sock.write(take === chunk.length ? chunk : chunk.subarray(0, take));
    if (done) {
      this.state = St.Waiting;
      if (take < chunk.length) {
        this.pending = chunk.subarray(take);
        this.sock.pause();
      }
    } else if (!ok && !this.waitingDrain) {
      this.waitingDrain = true;
      this.sock.pause();
      u.sock.once('drain', () => {
        this.waitingDrain = false;
        if (this.state === St.Body) this.sock.resume();
      });
    }
  }

  /** The response in flight has ended (`clean`: its framing ended it, not a close). */
  responseEnded(clean: boolean): void {
    this.upstream = undefined;
    if (this.state === St.Closed) return;
    if (this.state === St.Body) {
      // the upstream answered before the whole request body was read: do not reuse this connection
      this.keepAlive = false;
    }
    if (!clean || !this.keepAlive) {
      this.state = St.Closed;
      this.sock.end();
      return;
    }
    this.state = St.Head;
    if (this.pending !== undefined) {
      this.parse();
      if (this.state === St.Head || this.state === St.Body) this.sock.resume();
    } else this.sock.resume();
  }

  upstreamFailed(maybeStale: boolean): void {
    this.upstream = undefined;
    if (this.state === St.Closed) return;
    if (maybeStale && this.retriable && !this.responseStarted) {
      // a pooled connection the backend had closed: one more try on a fresh one
      this.retriable = false;
      const u = new Upstream(backends[rr++ % backends.length]!);
      this.upstream = u;
      u.begin(this);
      u.sock.write(this.sentHead, 'latin1');
      return;
    }
    if (this.responseStarted) this.close();
    else this.reject(BAD_GATEWAY);
  }
}

// ---------------------------------------------------------------------------------------

function parseAddress(a: string): { host: string; port: number } {
  const colon = a.lastIndexOf(':');
  return { host: a.slice(0, colon), port: Number(a.slice(colon + 1)) };
}

function main(argv: string[]): void {
  let listen: string | undefined;
  const upstreams: string[] = [];
  let workers = 1;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`raw-proxy: ${flag} needs a value`);
    if (flag === '--listen') listen = value;
    else if (flag === '--backend') upstreams.push(value);
    else if (flag === '--workers') workers = Number(value);
    else throw new Error(`raw-proxy: unexpected argument ${flag}`);
    i++;
  }
  if (listen === undefined || upstreams.length === 0) throw new Error('usage: raw-proxy --listen HOST:PORT --backend HOST:PORT... [--workers N]');
  if (workers > 1 && cluster.isPrimary) {
    let ready = 0;
    for (let i = 0; i < workers; i++) {
      cluster.fork().on('message', (m: unknown) => {
        if (m === 'ready' && ++ready === workers) process.stdout.write(`${JSON.stringify({ event: 'ready', listen, workers })}\n`);
      });
    }
    const stop = (): void => {
      for (const w of Object.values(cluster.workers ?? {})) w?.kill();
      process.exit(0);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    return;
  }
  backends = upstreams.map((u) => ({ ...parseAddress(u), idle: [] }));
  const { host, port } = parseAddress(listen);
  const server = createServer({ noDelay: true, pauseOnConnect: READ_BYTES > 0 }, (accepted) => {
    if (READ_BYTES === 0) {
      new ClientConn(accepted);
      return;
    }
    // Experiment: net.Server has no `onread`; re-wrap the accepted handle in a Socket that has
    // one (private `_handle`: a spike-only trick, a real fast path would need a cleaner way).
    const internals = accepted as unknown as { _handle: unknown };
    const handle = internals._handle;
    internals._handle = null;
    let conn: ClientConn | undefined;
    const sock = new Socket({
      handle,
      onread: userBufferRead({ wantsLargeRead: () => conn?.wantsLargeRead() ?? false, onData: (chunk) => conn?.onData(chunk) }),
    } as unknown as SocketConstructorOpts);
    conn = new ClientConn(sock, true);
  });
  server.listen(port, host, () => {
    if (cluster.isWorker) process.send?.('ready');
    else process.stdout.write(`${JSON.stringify({ event: 'ready', listen, workers })}\n`);
  });
  process.once('SIGTERM', () => process.exit(0));
  process.once('SIGINT', () => process.exit(0));
}

main(process.argv.slice(2));
