import net from 'node:net';
import tls from 'node:tls';
import type { Endpoint } from './lb-client.ts';

/** How a slow request is sent: `head` at once, then `drip` a byte every `dripIntervalMs`, then nothing. */
export interface SlowRequestOptions {
  endpoint: Endpoint;
  /** lbdrill's CA, for a TLS endpoint. */
  ca: string;
  localAddress?: string;
  /** bytes written as soon as the connection is up (may be empty). */
  head: Buffer;
  /** bytes then written one at a time (a slowloris head); empty: the client stalls after `head`. */
  drip: Buffer;
  dripIntervalMs: number;
  /** the client gives up this long after connecting, whatever happens. */
  deadlineMs: number;
  signal?: AbortSignal;
}

/** What the LB did to the slow client, with times in ms from the connection being up. */
export interface SlowRequestResult {
  /** `answered`: the LB sent a status line (408, 400) and then closed or not; `closed`/`reset`: it cut without a word; `deadline`: it never did. */
  outcome: 'answered' | 'closed' | 'reset' | 'deadline';
  /** status of the LB's answer, when it sent one. */
  status?: number;
  /** when the LB answered or cut the connection; undefined at the deadline. */
  cutAtMs?: number;
  /** when the client's last byte was written. */
  lastWriteAtMs: number;
  bytesSent: number;
}

/**
 * A client that sends a request too slowly, on a raw socket (no HTTP library would drip a
 * head byte by byte): it stops at the LB's first answer byte, its close or reset, or the deadline.
 */
export async function sendSlowly(options: SlowRequestOptions): Promise<SlowRequestResult> {
  const { endpoint } = options;
  const connectOptions = { host: endpoint.host, port: endpoint.port, ...(options.localAddress ? { localAddress: options.localAddress } : {}) };
  const socket = endpoint.tls ? tls.connect({ ...connectOptions, ca: options.ca, servername: endpoint.serverName }) : net.connect(connectOptions);
  await new Promise<void>((resolve, reject) => {
    socket.once(endpoint.tls ? 'secureConnect' : 'connect', () => resolve());
    socket.once('error', reject);
  });
  const started = performance.now();
  const now = (): number => performance.now() - started;
  let bytesSent = 0;
  let lastWriteAtMs = 0;
  const write = (bytes: Buffer): void => {
    if (bytes.length === 0 || socket.destroyed) return;
    socket.write(bytes);
    bytesSent += bytes.length;
    lastWriteAtMs = now();
  };
  let drip: NodeJS.Timeout | undefined;
  let deadline: NodeJS.Timeout | undefined;
  try {
    return await new Promise<SlowRequestResult>((resolve) => {
      const done = (result: Omit<SlowRequestResult, 'lastWriteAtMs' | 'bytesSent'>): void => resolve({ ...result, lastWriteAtMs, bytesSent });
      let received = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(received.toString('latin1'));
        if (status) done({ outcome: 'answered', status: Number(status[1]), cutAtMs: now() });
      });
      socket.on('error', (err: NodeJS.ErrnoException) => done({ outcome: err.code === 'ECONNRESET' || err.code === 'EPIPE' ? 'reset' : 'closed', cutAtMs: now() }));
      socket.on('close', () => done({ outcome: 'closed', cutAtMs: now() }));
      deadline = setTimeout(() => done({ outcome: 'deadline' }), options.deadlineMs);
      options.signal?.addEventListener('abort', () => done({ outcome: 'deadline' }), { once: true });
      write(options.head);
      let next = 0;
      if (options.drip.length > 0) {
        write(options.drip.subarray(0, 1));
        next = 1;
        drip = setInterval(() => {
          if (next >= options.drip.length) return clearInterval(drip);
          write(options.drip.subarray(next, next + 1));
          next++;
        }, options.dripIntervalMs);
      }
    });
  } finally {
    clearInterval(drip);
    clearTimeout(deadline);
    socket.destroy();
  }
}
