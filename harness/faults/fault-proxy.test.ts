import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { describe, expect, test } from 'vitest';
import { freePort } from '../runner/ports.ts';
import { isLbdrillError } from '../errors.ts';
import { FaultProxy, MAX_HELD_BYTES } from './fault-proxy.ts';
import { SocketProbe, startTcpServer, until, within, type TcpServer } from './network-test-kit.ts';

const MiB = 1024 * 1024;
/** Deadline for a wait that normally takes milliseconds; generous because other suites share the 2 cores. */
const EVENT_DEADLINE_MS = 10_000;

function echoServer(): Promise<TcpServer> {
  return startTcpServer((socket) => socket.pipe(socket));
}

function proxyTo(server: TcpServer, seed = 1): Promise<FaultProxy> {
  return FaultProxy.start({ upstreamHost: '127.0.0.1', upstreamPort: server.port, seed, name: 'backend-test' });
}

/** A connection through the proxy that has made one round trip, so both of its sockets are up. */
async function establishedProbe(proxy: FaultProxy): Promise<SocketProbe> {
  const probe = await SocketProbe.connect(proxy.port);
  await probe.send('.');
  await within(probe.waitForBytes(1), EVENT_DEADLINE_MS, 'first echo');
  return probe;
}

describe('FaultProxy passthrough', () => {
  test('carries 64 MiB each way byte-exact, then the FIN', async () => {
    await using echo = await echoServer();
    await using proxy = await proxyTo(echo);
    const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
    await once(socket, 'connect');
    const sent = createHash('sha256');
    const got = createHash('sha256');
    let gotBytes = 0;
    socket.on('data', (chunk: Buffer) => {
      got.update(chunk);
      gotBytes += chunk.length;
    });
    const ended = once(socket, 'end');
    for (let i = 0; i < 64; i += 1) {
      const block = randomBytes(MiB);
      sent.update(block);
      if (!socket.write(block)) await once(socket, 'drain');
    }
    socket.end();
    await within(ended, 60_000, 'echoed 64 MiB and FIN');
    expect(gotBytes).toBe(64 * MiB);
    expect(got.digest('hex')).toBe(sent.digest('hex'));
    expect(proxy.heldBytes).toBe(0);
  });

  test('half-close: the client sends FIN and still reads what the backend answers after it', async () => {
    let received = '';
    await using backend = await startTcpServer((socket) => {
      socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
      socket.on('end', () => socket.end(`got ${received}, answering after your FIN`));
    });
    await using proxy = await proxyTo(backend);
    const probe = await SocketProbe.connect(proxy.port);
    probe.socket.end('request');
    await within(probe.ended, EVENT_DEADLINE_MS, 'FIN from backend');
    expect(probe.data().toString()).toBe('got request, answering after your FIN');
    const end = await within(probe.closed, EVENT_DEADLINE_MS, 'client close');
    expect(end.error).toBeUndefined();
    await until(() => proxy.connections === 0 && backend.sockets.size === 0, EVENT_DEADLINE_MS, 'sockets closed');
  });

  test('an RST from the backend reaches the client as ECONNRESET', async () => {
    await using backend = await startTcpServer((socket) => socket.once('data', () => socket.resetAndDestroy()));
    await using proxy = await proxyTo(backend);
    const probe = await SocketProbe.connect(proxy.port);
    await probe.send('please reset');
    const end = await within(probe.closed, EVENT_DEADLINE_MS, 'client close');
    expect(end.error?.code).toBe('ECONNRESET');
  });

  test('an RST from the client reaches the backend as ECONNRESET', async () => {
    await using echo = await echoServer();
    await using proxy = await proxyTo(echo);
    const accepted = echo.nextConnection();
    const probe = await establishedProbe(proxy);
    const backendSocket = await accepted;
    const backendError = new Promise<NodeJS.ErrnoException>((resolve) => backendSocket.on('error', resolve));
    probe.socket.resetAndDestroy();
    const err = await within(backendError, EVENT_DEADLINE_MS, 'backend error');
    expect(err.code).toBe('ECONNRESET');
  });

  test('a refused upstream resets the client and is reported', async () => {
    const port = await freePort();
    await using proxy = await FaultProxy.start({ upstreamHost: '127.0.0.1', upstreamPort: port, seed: 1, name: 'backend-down' });
    const reported = once(proxy.events, 'upstream-error');
    const probe = await SocketProbe.connect(proxy.port);
    const end = await within(probe.closed, EVENT_DEADLINE_MS, 'client close');
    expect(end.error?.code).toBe('ECONNRESET');
    const [ordinal, error] = (await reported) as [number, NodeJS.ErrnoException];
    expect(ordinal).toBe(1);
    expect(error.code).toBe('ECONNREFUSED');
  });

  test('close() destroys every connection, the held ones too, and stops listening', async () => {
    await using echo = await echoServer();
    const proxy = await proxyTo(echo);
    const idle = await establishedProbe(proxy);
    const holding = await establishedProbe(proxy);
    proxy.addToxic({ type: 'timeout', stream: 'upstream', attributes: { timeoutMs: 0 } });
    await holding.send('held in the proxy');
    const fresh = await SocketProbe.connect(proxy.port);
    await until(() => echo.sockets.size === 3 && proxy.heldBytes > 0, EVENT_DEADLINE_MS, '3 connections, bytes held');

    await within(proxy.close(), EVENT_DEADLINE_MS, 'proxy close');
    expect(proxy.connections).toBe(0);
    // The probes are half-open capable: the FIN (or an RST) is what they see of the close.
    const seen = [idle, holding, fresh].map((probe) => Promise.race([probe.ended, probe.closed]));
    await within(Promise.all(seen), EVENT_DEADLINE_MS, 'clients see the close');
    await until(() => echo.sockets.size === 0, EVENT_DEADLINE_MS, 'backend sockets closed');
    const refused = net.connect({ host: '127.0.0.1', port: proxy.port });
    const [err] = (await once(refused, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNREFUSED');
  });
});

describe('FaultProxy toxics', () => {
  test('a blackholed stream holds at most MAX_HELD_BYTES, TCP pushes back on the sender, and removal delivers every byte in order', async () => {
    const total = 64 * MiB;
    const got = createHash('sha256');
    let gotBytes = 0;
    let allReceived: () => void = () => undefined;
    const received = new Promise<void>((resolve) => (allReceived = resolve));
    await using sink = await startTcpServer((socket) =>
      socket.on('data', (chunk: Buffer) => {
        got.update(chunk);
        gotBytes += chunk.length;
        if (gotBytes === total) allReceived();
      }),
    );
    await using proxy = await proxyTo(sink);
    const probe = await SocketProbe.connect(proxy.port);
    const toxic = proxy.addToxic({ type: 'timeout', stream: 'upstream', attributes: { timeoutMs: 0 } });
    const sent = createHash('sha256');
    for (let i = 0; i < 64; i += 1) {
      const block = randomBytes(MiB);
      sent.update(block);
      probe.socket.write(block);
    }
    await until(() => proxy.heldBytes >= MAX_HELD_BYTES, EVENT_DEADLINE_MS, 'proxy holds its limit');
    // One more read may land after the pause (64 KiB per read on Linux).
    expect(proxy.heldBytes).toBeLessThanOrEqual(MAX_HELD_BYTES + 64 * 1024);
    expect(gotBytes).toBe(0);
    // The rest waits in the sender: kernel buffers take a few MiB at most.
    expect(probe.socket.writableLength).toBeGreaterThan(32 * MiB);

    toxic.remove();
    await within(received, 60_000, 'all 64 MiB at the backend');
    expect(got.digest('hex')).toBe(sent.digest('hex'));
  });

  test('toxicity 0.5 with a fixed seed hits the same connections on every run', async () => {
    const latencyMs = 400;
    const connections = 16;
    async function slowConnections(seed: number): Promise<{ observed: number[]; reported: number[] }> {
      await using echo = await echoServer();
      await using proxy = await proxyTo(echo, seed);
      const probes: SocketProbe[] = [];
      // One after the other, so probe i is connection ordinal i + 1.
      for (let i = 0; i < connections; i += 1) probes.push(await establishedProbe(proxy));
      const toxic = proxy.addToxic({ type: 'latency', stream: 'downstream', toxicity: 0.5, attributes: { latencyMs, jitterMs: 0 } });
      const delays = await Promise.all(
        probes.map(async (probe) => {
          const sentAt = await probe.send('x');
          return (await within(probe.waitForBytes(2), EVENT_DEADLINE_MS, 'echo')) - sentAt;
        }),
      );
      // A hit waits >= latencyMs (1 ms of timer rounding allowed); a loopback round trip without it takes far less.
      const observed = delays.flatMap((delayMs, i) => (delayMs >= latencyMs - 1 ? [i + 1] : []));
      return { observed, reported: [...toxic.hitConnections].sort((a, b) => a - b) };
    }

    const first = await slowConnections(42);
    expect(first.observed).toEqual(first.reported);
    expect(first.observed.length).toBeGreaterThan(0);
    expect(first.observed.length).toBeLessThan(connections);
    const rerun = await slowConnections(42);
    expect(rerun.observed).toEqual(first.observed);
    const otherSeed = await slowConnections(7);
    expect(otherSeed.observed).not.toEqual(first.observed);
  });

  test('toxicity 0 and 1 hit no connection and every connection', async () => {
    await using echo = await echoServer();
    await using proxy = await proxyTo(echo);
    const never = proxy.addToxic({ type: 'slow_close', stream: 'downstream', toxicity: 0, attributes: { delayMs: 1 } });
    const always = proxy.addToxic({ type: 'slow_close', stream: 'downstream', toxicity: 1, attributes: { delayMs: 1 } });
    for (let i = 0; i < 8; i += 1) await establishedProbe(proxy);
    expect(never.hitConnections).toEqual([]);
    expect(always.hitConnections).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(always.name).toBe('slow_close_downstream_2');
  });

  test('rejects a toxicity outside 0..1 and a name already in use', async () => {
    await using echo = await echoServer();
    await using proxy = await proxyTo(echo);
    const bad = (): unknown => proxy.addToxic({ type: 'latency', stream: 'upstream', toxicity: 1.5, attributes: { latencyMs: 1, jitterMs: 0 } });
    expect(bad).toThrow(/toxicity 1.5 is not within 0..1/);
    proxy.addToxic({ name: 'slow', type: 'latency', stream: 'upstream', attributes: { latencyMs: 1, jitterMs: 0 } });
    let err: unknown;
    try {
      proxy.addToxic({ name: 'slow', type: 'bandwidth', stream: 'upstream', attributes: { rateKbps: 1 } });
    } catch (e) {
      err = e;
    }
    expect(isLbdrillError(err, 'LBDRILL_ERR_FAULT')).toBe(true);
  });

  test('removing a latency toxic hands on what it holds at once, in order', async () => {
    await using echo = await echoServer();
    await using proxy = await proxyTo(echo);
    const probe = await establishedProbe(proxy);
    const toxic = proxy.addToxic({ type: 'latency', stream: 'downstream', attributes: { latencyMs: 60_000, jitterMs: 0 } });
    for (let i = 0; i < 100; i += 1) await probe.send(`${i};`);
    await until(() => proxy.heldBytes === 290, EVENT_DEADLINE_MS, 'all 100 messages held');
    const removedAt = performance.now();
    toxic.remove();
    const arrivedAt = await within(probe.waitForBytes(1 + 290), EVENT_DEADLINE_MS, 'held messages');
    expect(arrivedAt - removedAt).toBeLessThan(5_000);
    expect(probe.data().toString()).toBe(`.${Array.from({ length: 100 }, (_, i) => `${i};`).join('')}`);
    expect(proxy.heldBytes).toBe(0);
  });
});
