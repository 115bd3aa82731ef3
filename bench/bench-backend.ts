import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';

/*
 * The bench's upstream server, run as its own process (`node --import tsx bench/bench-backend.ts
 * --listen HOST:PORT ...`) so that it never shares an event loop with the load generator.
 * As little work per request as node:http allows, so the LB in front is what is measured:
 *
 *   GET /small          200, SMALL_BODY_BYTES of text
 *   GET /blob/<bytes>   200, <bytes> streamed from one preallocated buffer (Content-Length)
 *   PUT|POST /upload    reads and discards the body, answers 200 with the byte count
 *
 * Prints one line `{"event":"ready"}` on stdout once every address listens.
 */

/** Size of the small response body (a typical small JSON API answer). */
const SMALL_BODY_BYTES = 128;
/** Bytes per write of a blob download; node reads sockets in 64 KiB, the LBs read 16-64 KiB. */
const BLOB_CHUNK_BYTES = 256 * 1024;
const IDLE_MS = 120_000;

const SMALL_BODY = Buffer.from(`${'{"ok":true,"pad":"'.padEnd(SMALL_BODY_BYTES - 3, 'x')}"}\n`);
const SMALL_HEADERS = ['Content-Type', 'application/json', 'Content-Length', String(SMALL_BODY.length)];
// A fixed, non-uniform pattern: nothing on the path compresses, and nothing is random.
const BLOB_CHUNK = Buffer.allocUnsafe(BLOB_CHUNK_BYTES);
for (let i = 0; i < BLOB_CHUNK_BYTES; i++) BLOB_CHUNK[i] = (i * 31 + (i >>> 8)) & 0xff;

function streamBlob(res: ServerResponse, bytes: number): void {
  res.writeHead(200, ['Content-Type', 'application/octet-stream', 'Content-Length', String(bytes)]);
  let left = bytes;
  let closed = false;
  res.once('close', () => (closed = true));
  const pump = (): void => {
    while (left > 0 && !closed) {
      const n = Math.min(left, BLOB_CHUNK_BYTES);
      left -= n;
      // The same buffer is written again and again: its content never changes, so that is safe.
      if (!res.write(n === BLOB_CHUNK_BYTES ? BLOB_CHUNK : BLOB_CHUNK.subarray(0, n))) {
        res.once('drain', pump);
        return;
      }
    }
    if (!closed) res.end();
  };
  pump();
}

function discardUpload(req: IncomingMessage, res: ServerResponse): void {
  let bytes = 0;
  req.on('data', (chunk: Buffer) => (bytes += chunk.length));
  req.once('end', () => {
    const body = String(bytes);
    res.writeHead(200, ['Content-Type', 'text/plain', 'Content-Length', String(body.length)]);
    res.end(body);
  });
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  if (url === '/small') {
    res.writeHead(200, SMALL_HEADERS);
    res.end(SMALL_BODY);
  } else if (url.startsWith('/blob/')) {
    const bytes = Number(url.slice('/blob/'.length));
    if (Number.isSafeInteger(bytes) && bytes >= 0) streamBlob(res, bytes);
    else res.writeHead(400, ['Content-Length', '0']).end();
  } else if (url === '/upload' && (req.method === 'PUT' || req.method === 'POST')) {
    discardUpload(req, res);
  } else {
    req.resume();
    res.writeHead(404, ['Content-Length', '0']).end();
  }
}

async function listen(address: string): Promise<Server> {
  const colon = address.lastIndexOf(':');
  const server = createServer({ keepAliveTimeout: IDLE_MS, requestTimeout: 0, headersTimeout: IDLE_MS + 1000 }, handle);
  server.listen(Number(address.slice(colon + 1)), address.slice(0, colon));
  await once(server, 'listening');
  return server;
}

async function main(argv: string[]): Promise<void> {
  const addresses: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--listen' && argv[i + 1] !== undefined) addresses.push(argv[++i]!);
    else throw new Error(`bench-backend: unexpected argument ${argv[i]} (usage: --listen HOST:PORT ...)`);
  }
  if (addresses.length === 0) throw new Error('bench-backend: give at least one --listen HOST:PORT');
  const servers = await Promise.all(addresses.map(listen));
  const stop = (): void => {
    for (const s of servers) s.closeAllConnections();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdout.write(`${JSON.stringify({ event: 'ready', listening: addresses })}\n`);
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(2);
});
