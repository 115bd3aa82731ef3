import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { LbdrillError } from '../errors.ts';
import type { LbProcess } from '../process/lb-process.ts';

/** Ports lbdrill hands to listeners: below the kernel's ephemeral range (read once; Linux's default low end otherwise). */
function listenPortRange(): { low: number; high: number } {
  let ephemeralLow = 32_768;
  try {
    ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || ephemeralLow;
  } catch {
    // not Linux: keep the default
  }
  return { low: Math.max(1_024, ephemeralLow - 16_384), high: ephemeralLow - 1 };
}
let range: { low: number; high: number } | undefined;
/** Ports this process handed out: free again until their listener binds, so never handed out twice. */
const handedOut = new Set<number>();

/** Tries to bind host:port; resolves with the port bound (the kernel's choice for 0), or undefined when it is taken. */
function tryBind(host: string, port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(undefined) : reject(err)));
    server.listen(port, host, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : undefined));
    });
  });
}

/**
 * A free TCP port on host for a listener lbdrill starts (a proxy, a backend). Chosen below the
 * kernel's ephemeral port range: a port the kernel hands out for listen(0) can meanwhile become
 * the source port of any outgoing connection on the box (probes, pooled upstream connections),
 * and the proxy's own bind then fails. Random within that range, checked free; the kernel's
 * choice after 32 taken ones.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  range ??= listenPortRange();
  if (range.high > range.low) {
    for (let i = 0; i < 32; i++) {
      const candidate = randomInt(range.low, range.high + 1);
      if (handedOut.has(candidate)) continue;
      handedOut.add(candidate);
      const port = await tryBind(host, candidate);
      if (port !== undefined) return port;
    }
  }
  const port = await tryBind(host, 0);
  if (port === undefined) throw new Error(`no free port on ${host}`);
  handedOut.add(port);
  return port;
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
export async function waitForPorts(process: LbProcess, ports: readonly number[], timeoutMs: number, host = '127.0.0.1'): Promise<void> {
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
