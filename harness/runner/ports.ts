import { createServer, connect } from 'node:net';
import { LbdrillError } from '../errors.ts';
import type { ManagedProcess } from '../process/managed-process.ts';

/** A free TCP port on host, as the kernel hands it out. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** True when `port` can be bound on every host. */
export async function portFreeOnAll(port: number, hosts: readonly string[]): Promise<boolean> {
  for (const host of hosts) {
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, host, () => server.close(() => resolve(true)));
    });
    if (!free) return false;
  }
  return true;
}

function accepts(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const POLL_MS = 20;

/** Waits until every port accepts a TCP connection; fails fast if the process exits first. */
export async function waitForPorts(process: ManagedProcess, ports: readonly number[], timeoutMs: number, host = '127.0.0.1'): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  const pending = new Set(ports);
  while (pending.size > 0) {
    if (!process.running) {
      throw new LbdrillError('LBDRILL_ERR_TARGET_START', `${process.label} exited during start-up (code ${process.exitCode}): ${process.tail(3).join(' | ')}`);
    }
    for (const port of [...pending]) if (await accepts(port, host)) pending.delete(port);
    if (pending.size === 0) return;
    if (performance.now() > deadline) {
      throw new LbdrillError('LBDRILL_ERR_TARGET_START', `${process.label} did not listen on ${[...pending].join(', ')} within ${timeoutMs} ms: ${process.tail(3).join(' | ')}`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
