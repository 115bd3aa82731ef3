import net from 'node:net';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

/*
 * The TCP forwarder a test host runs inside its namespace: it accepts on the host's address
 * and pipes each connection, both ways, to the backend on the root side of the veth. A FIN
 * is passed on as a FIN (half-close) and a reset as a reset, so the load balancer sees what
 * the backend did; only a refused backend turns into "accepted, then reset".
 *
 *   ip netns exec <ns> node --import tsx harness/netns/host-forwarder.ts --listen 10.251.7.2:0 --to 10.251.7.1:8080
 *
 * Prints `lbdrill-forwarder listening <host>:<port>` once it accepts connections.
 */

/** The line a forwarder prints once it is listening. */
export const FORWARDER_READY = /^lbdrill-forwarder listening (\S+):(\d+)$/;

/** A host and port, as given on the command line. */
export interface Endpoint {
  host: string;
  port: number;
}

/** A running forwarder; disposing closes the listener and every connection. */
export interface StartedHostForwarder extends AsyncDisposable {
  readonly port: number;
  /** connections open right now. */
  readonly connections: number;
  close(): Promise<void>;
}

/** Errors after which the peer should see a reset rather than a FIN. */
const RESET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

export function parseEndpoint(text: string, flag: string): Endpoint {
  const match = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (!match?.[1] || !(port >= 0 && port <= 65_535)) throw new Error(`${flag}: expected <ipv4>:<port>, got "${text}"`);
  return { host: match[1], port };
}

export async function startHostForwarder(listen: Endpoint, to: Endpoint): Promise<StartedHostForwarder> {
  const sockets = new Set<net.Socket>();
  const clients = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    const upstream = net.connect({ host: to.host, port: to.port, allowHalfOpen: true, noDelay: true });
    clients.add(client);
    client.once('close', () => clients.delete(client));
    sockets.add(client);
    sockets.add(upstream);
    joinSockets(client, upstream);
    joinSockets(upstream, client);
  });
  server.listen(listen.port, listen.host);
  await once(server, 'listening');
  const close = async (): Promise<void> => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    get connections() {
      return clients.size;
    },
    close,
    [Symbol.asyncDispose]: close,
  };

  /** Carries `from`'s bytes and FIN to `to`, and its reset as a reset. */
  function joinSockets(from: net.Socket, peer: net.Socket): void {
    from.pipe(peer); // ends `peer` on `from`'s FIN: the half-close travels on
    from.on('error', (err: NodeJS.ErrnoException) => {
      if (peer.destroyed) return;
      if (RESET_CODES.has(err.code ?? '')) peer.resetAndDestroy();
      else peer.destroy();
    });
    from.once('close', () => sockets.delete(from));
  }
}

async function main(): Promise<void> {
  let listen: Endpoint;
  let to: Endpoint;
  try {
    const { values } = parseArgs({ options: { listen: { type: 'string' }, to: { type: 'string' } }, strict: true });
    listen = parseEndpoint(values.listen ?? '', '--listen');
    to = parseEndpoint(values.to ?? '', '--to');
  } catch (err) {
    process.stderr.write(`host-forwarder: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const forwarder = await startHostForwarder(listen, to);
  const stop = (): void => void forwarder.close().finally(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // Only now: stdout to a pipe is synchronous, and a parent may signal the moment it reads this.
  process.stdout.write(`lbdrill-forwarder listening ${listen.host}:${forwarder.port}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`host-forwarder: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
