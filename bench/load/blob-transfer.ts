import { connect, type Socket } from 'node:net';

/** Which way the blob goes through the LB. */
export type BlobDirection = 'download' | 'upload';

/** How one blob cell is driven. */
export interface BlobTransferOptions {
  direction: BlobDirection;
  /** origins (`http://host:port`) the streams are spread over: one LB, or the backends for the baseline. */
  origins: readonly string[];
  /** concurrent streams, each on its own connection. */
  streams: number;
  bytesPerStream: number;
  /** called about once a second with the bytes moved in the last second. */
  onProgress?: (p: { elapsedMs: number; bytesPerSec: number; doneBytes: number; totalBytes: number }) => void;
}

/** What one blob cell measured. */
export interface BlobTransferResult {
  bytes: number;
  durationMs: number;
  /** 2^30 bytes per second, all streams together; null when a stream failed. */
  gibPerSec: number | null;
  /** one line per failed stream. */
  errors: string[];
}

/*
 * Why raw sockets and not undici here: undici parses responses in WebAssembly, so every
 * body byte is copied into the parser's memory and out again; measured on this box, its
 * client spent ~1.5 cores per GiB/s against ~0.3 for a socket reading into one reused
 * buffer (net.connect `onread`). On 2 shared cores that difference would be taken from
 * the LB under test. The HTTP here is the minimum a blob needs, and strict: status 200,
 * a Content-Length, exactly that many bytes; anything else fails the stream.
 */

/** Bytes per read (download) and per write (upload): one preallocated buffer each, reused. */
const IO_CHUNK_BYTES = 256 * 1024;
const UPLOAD_CHUNK = Buffer.alloc(IO_CHUNK_BYTES, 0x5a);
const STALL_MS = 60_000;
const MAX_HEAD_BYTES = 64 * 1024;
const GiB = 1024 ** 3;

class Progress {
  bytes = 0;
  tick = 0;

  add(n: number): void {
    this.bytes += n;
    this.tick += n;
  }
}

/** A parsed response head. */
interface ResponseHead {
  status: number;
  contentLength: number | undefined;
  chunked: boolean;
}

function parseHead(text: string): ResponseHead {
  const lines = text.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? NaN);
  let contentLength: number | undefined;
  let chunked = false;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-length') contentLength = Number(value);
    else if (name === 'transfer-encoding') chunked = /chunked/i.test(value);
  }
  return { status, contentLength, chunked };
}

function hostPort(origin: string): { host: string; port: number } {
  const url = new URL(origin);
  return { host: url.hostname, port: Number(url.port) || 80 };
}

/**
 * One HTTP/1.1 exchange on its own connection: sends `head` (and, for uploads, `uploadBytes`
 * from the reused buffer with backpressure), reads the response head, then hands each body
 * read to `onBody`. Resolves with an error line, or undefined when the body was exactly
 * Content-Length bytes and `check` accepted it.
 */
function exchange(options: {
  origin: string;
  head: string;
  uploadBytes: number;
  progress: Progress;
  /** body bytes of the response, as they arrive (the reused read buffer: copy what you keep). */
  onBody: (buf: Buffer, start: number, end: number) => void;
  check: (head: ResponseHead) => string | undefined;
}): Promise<string | undefined> {
  return new Promise((settle) => {
    let head: ResponseHead | undefined;
    let headText = '';
    let bodyLeft = 0;
    let settled = false;
    let socket: Socket | undefined = undefined;
    const finish = (error: string | undefined): void => {
      if (settled) return;
      settled = true;
      socket?.destroy();
      settle(error);
    };
    const onRead = (n: number, buf: Buffer): boolean => {
      let start = 0;
      if (head === undefined) {
        headText += buf.toString('latin1', 0, n);
        const end = headText.indexOf('\r\n\r\n');
        if (end < 0) {
          if (headText.length > MAX_HEAD_BYTES) finish('response head too long');
          return true;
        }
        head = parseHead(headText.slice(0, end));
        if (head.status !== 200) return (finish(`status ${head.status}`), false);
        if (head.chunked || head.contentLength === undefined || !Number.isSafeInteger(head.contentLength)) {
          return (finish('response without a Content-Length (the bench needs one to count the body)'), false);
        }
        bodyLeft = head.contentLength;
        // The head arrived in this read: the body starts right after it.
        start = n - (Buffer.byteLength(headText, 'latin1') - end - 4);
      }
      const take = Math.min(n - start, bodyLeft);
      if (take > 0) options.onBody(buf, start, start + take);
      bodyLeft -= take;
      if (n - start > take) return (finish('more bytes than Content-Length'), false);
      if (bodyLeft === 0) finish(options.check(head));
      return true;
    };
    const { host, port } = hostPort(options.origin);
    socket = connect({ host, port, noDelay: true, onread: { buffer: Buffer.allocUnsafe(IO_CHUNK_BYTES), callback: onRead } });
    socket.setTimeout(STALL_MS, () => finish(`stalled for ${STALL_MS / 1000} s`));
    socket.on('error', (err: NodeJS.ErrnoException) => finish(`${err.code ?? err.name}: ${err.message}`));
    socket.on('end', () => finish(head === undefined ? 'connection closed before the response' : `connection closed with ${bodyLeft} body bytes missing`));
    socket.on('close', () => finish('connection closed'));
    const s = socket;
    s.write(options.head);
    let left = options.uploadBytes;
    const pump = (): void => {
      while (left > 0 && !settled) {
        const n = Math.min(left, IO_CHUNK_BYTES);
        left -= n;
        options.progress.add(n);
        // The same buffer again and again: its content never changes, so sharing it is safe.
        if (!s.write(n === IO_CHUNK_BYTES ? UPLOAD_CHUNK : UPLOAD_CHUNK.subarray(0, n))) {
          s.once('drain', pump);
          return;
        }
      }
    };
    if (left > 0) s.once('connect', pump);
  });
}

function download(origin: string, bytes: number, progress: Progress): Promise<string | undefined> {
  return exchange({
    origin,
    head: `GET /blob/${bytes} HTTP/1.1\r\nHost: ${new URL(origin).host}\r\nUser-Agent: lbdrill-bench\r\n\r\n`,
    uploadBytes: 0,
    progress,
    onBody: (_buf, start, end) => progress.add(end - start),
    check: (head) => (head.contentLength === bytes ? undefined : `Content-Length ${head.contentLength}, expected ${bytes}`),
  });
}

function upload(origin: string, bytes: number, progress: Progress): Promise<string | undefined> {
  let answer = '';
  return exchange({
    origin,
    head: `PUT /upload HTTP/1.1\r\nHost: ${new URL(origin).host}\r\nUser-Agent: lbdrill-bench\r\nContent-Type: application/octet-stream\r\nContent-Length: ${bytes}\r\n\r\n`,
    uploadBytes: bytes,
    progress,
    onBody: (buf, start, end) => (answer += buf.toString('latin1', start, end)),
    check: () => (Number(answer) === bytes ? undefined : `the backend read ${answer} of ${bytes} bytes`),
  });
}

/**
 * Moves `streams` blobs of `bytesPerStream` through the origins at once, each on its own
 * connection, and times the whole: first byte asked for to last stream done.
 */
export async function runBlobTransfer(options: BlobTransferOptions): Promise<BlobTransferResult> {
  const { bytesPerStream } = options;
  const progress = new Progress();
  const totalBytes = bytesPerStream * options.streams;
  const t0 = performance.now();
  const timer = setInterval(() => {
    options.onProgress?.({ elapsedMs: performance.now() - t0, bytesPerSec: progress.tick, doneBytes: progress.bytes, totalBytes });
    progress.tick = 0;
  }, 1000);
  try {
    const run = options.direction === 'download' ? download : upload;
    const outcomes = await Promise.all(Array.from({ length: options.streams }, (_, i) => run(options.origins[i % options.origins.length]!, bytesPerStream, progress)));
    const durationMs = performance.now() - t0;
    const errors = outcomes.flatMap((e, i) => (e === undefined ? [] : [`stream ${i + 1}: ${e}`]));
    return {
      bytes: totalBytes,
      durationMs: Math.round(durationMs),
      gibPerSec: errors.length > 0 ? null : totalBytes / GiB / (durationMs / 1000),
      errors,
    };
  } finally {
    clearInterval(timer);
  }
}
