import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/*
 * Shared by the fault proxy and network fault tests: real TCP servers on 127.0.0.1:0 and
 * client probes that record what the peer really sees (each read with its time, the FIN,
 * the RST).
 */

/** Rejects when `promise` has not settled within `ms`: a deadline for an event-driven wait. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      promise,
      sleep(ms, undefined, { signal: timer.signal }).then(() => {
        throw new Error(`${what}: nothing within ${ms} ms`);
      }),
    ]);
  } finally {
    timer.abort();
  }
}

/** Waits until `predicate` holds, checking every few ms; for state that has no event (bytes held in the proxy). */
export async function until(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(5);
  }
}

/** A TCP server on 127.0.0.1:0 that keeps track of its sockets. */
export interface TcpServer extends AsyncDisposable {
  readonly port: number;
  /** sockets open right now. */
  readonly sockets: Set<net.Socket>;
  /** resolves with the next accepted socket. */
  nextConnection(): Promise<net.Socket>;
  close(): Promise<void>;
}

/** Starts a TCP server (half-open capable, Nagle off) calling `onConnection` for each socket. */
export async function startTcpServer(onConnection: (socket: net.Socket) => void = () => undefined): Promise<TcpServer> {
  const sockets = new Set<net.Socket>();
  const waiters: Array<(socket: net.Socket) => void> = [];
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
    onConnection(socket);
    waiters.shift()?.(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = async (): Promise<void> => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    sockets,
    nextConnection: () => new Promise((resolve) => waiters.push(resolve)),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** How a socket ended: when, and with which error (ECONNRESET for an RST). */
export interface SocketEnd {
  atMs: number;
  error?: NodeJS.ErrnoException;
}

/** A client connection that records everything it receives. */
export class SocketProbe {
  readonly socket: net.Socket;
  readonly reads: Array<{ atMs: number; bytes: number }> = [];
  /** resolves with the time the FIN arrived. */
  readonly ended: Promise<number>;
  readonly closed: Promise<SocketEnd>;
  #chunks: Buffer[] = [];
  #bytes = 0;
  #waiters: Array<{ bytes: number; resolve: (atMs: number) => void }> = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      const atMs = performance.now();
      this.reads.push({ atMs, bytes: chunk.length });
      this.#chunks.push(chunk);
      this.#bytes += chunk.length;
      this.#waiters = this.#waiters.filter((w) => (w.bytes <= this.#bytes ? (w.resolve(atMs), false) : true));
    });
    this.ended = new Promise((resolve) => socket.once('end', () => resolve(performance.now())));
    let error: NodeJS.ErrnoException | undefined;
    socket.on('error', (err) => (error = err));
    this.closed = new Promise((resolve) => socket.once('close', () => resolve({ atMs: performance.now(), error })));
  }

  static async connect(port: number): Promise<SocketProbe> {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true, noDelay: true });
    const probe = new SocketProbe(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return probe;
  }

  get bytes(): number {
    return this.#bytes;
  }

  data(): Buffer {
    return Buffer.concat(this.#chunks);
  }

  /** resolves with the time the probe had received at least `bytes` bytes. */
  waitForBytes(bytes: number): Promise<number> {
    if (this.#bytes >= bytes) return Promise.resolve(this.reads.at(-1)?.atMs ?? performance.now());
    return new Promise((resolve) => this.#waiters.push({ bytes, resolve }));
  }

  /** sends `data` and resolves with the time it was handed to the kernel. */
  send(data: string | Buffer): Promise<number> {
    return new Promise((resolve, reject) => this.socket.write(data, (err) => (err ? reject(err) : resolve(performance.now()))));
  }
}
