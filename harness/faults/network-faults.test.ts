import http from 'node:http';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startBackend, type StartedBackend } from '../../fixtures/backend/index.ts';
import { isLbdrillError } from '../errors.ts';
import { bandwidthFault } from './bandwidth.ts';
import type { FaultContext, FaultKind, FaultSite } from './fault.ts';
import { FaultProxy } from './fault-proxy.ts';
import { latencyFault } from './latency.ts';
import { limitDataFault } from './limit-data.ts';
import { SocketProbe, startTcpServer, until, within, type TcpServer } from './network-test-kit.ts';
import { resetPeerFault } from './reset-peer.ts';
import { slicerFault } from './slicer.ts';
import { slowCloseFault } from './slow-close.ts';
import { timeoutFault } from './timeout.ts';

/*
 * Every network fault proven at the socket: a real server on 127.0.0.1:0, real clients
 * through a real FaultProxy, and assertions on what the peer receives and when.
 * Timing bounds: a lower bound may be TIMER_SLACK_MS early (timers round to whole ms); an
 * upper bound allows LOAD_SLACK_MS because other suites share the machine's 2 cores.
 */
const TIMER_SLACK_MS = 1;
const LOAD_SLACK_MS = 2000;
/** Deadline for a wait that normally takes milliseconds. */
const EVENT_DEADLINE_MS = 10_000;

const ctx: FaultContext = { seed: 7, signal: new AbortController().signal };
const NETWORK_FAULTS: ReadonlyArray<FaultKind<unknown>> = [
  latencyFault,
  bandwidthFault,
  resetPeerFault,
  timeoutFault,
  slicerFault,
  limitDataFault,
  slowCloseFault,
];

// Network faults act on site.proxy only; a site always has its backend, so the tests give it a real one.
let backend: StartedBackend;
beforeAll(async () => {
  backend = await startBackend({ id: 'backend-api-1', host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await backend.stop();
});

async function proxiedSite(upstreamPort: number): Promise<{ site: FaultSite; proxy: FaultProxy }> {
  const proxy = await FaultProxy.start({ upstreamHost: '127.0.0.1', upstreamPort, seed: ctx.seed, name: 'backend-api-1' });
  return { site: { name: 'backend-api-1', backend, proxy }, proxy };
}

function echoServer(): Promise<TcpServer> {
  return startTcpServer((socket) => socket.pipe(socket));
}

/** A server that answers each chunk it receives with `answer`. */
function answeringServer(answer: (socket: net.Socket) => void): Promise<TcpServer> {
  return startTcpServer((socket) => socket.on('data', () => answer(socket)));
}

function pattern(bytes: number, offset = 0): Buffer {
  return Buffer.from(Array.from({ length: bytes }, (_, i) => (i + offset) % 251));
}

describe('network fault attributes', () => {
  test('every kind is a network fault with strict, defaulted attributes', () => {
    const defaults = NETWORK_FAULTS.map((kind) => [kind.type, kind.layer, kind.attributes.safeParse({}).data]);
    expect(defaults).toEqual([
      ['latency', 'network', { latencyMs: 1000, jitterMs: 0 }],
      ['bandwidth', 'network', { rateKbps: 100 }],
      ['reset_peer', 'network', { timeoutMs: 0 }],
      ['timeout', 'network', { timeoutMs: 0 }],
      ['slicer', 'network', { averageSizeBytes: 64, sizeVariationBytes: 32, delayUs: 1000 }],
      ['limit_data', 'network', undefined],
      ['slow_close', 'network', { delayMs: 1000 }],
    ]);
    for (const kind of NETWORK_FAULTS) {
      const parsed = kind.attributes.safeParse({ latency: 5 });
      expect(parsed.success, kind.type).toBe(false);
    }
  });

  test.each([
    [latencyFault, { latencyMs: -1 }, 'latencyMs'],
    [latencyFault, { latencyMs: 300_001 }, 'latencyMs'],
    [latencyFault, { jitterMs: 1.5 }, 'jitterMs'],
    [bandwidthFault, { rateKbps: 0 }, 'rateKbps'],
    [resetPeerFault, { timeoutMs: -5 }, 'timeoutMs'],
    [timeoutFault, { timeoutMs: '10' }, 'timeoutMs'],
    [slicerFault, { averageSizeBytes: 0 }, 'averageSizeBytes'],
    [slicerFault, { averageSizeBytes: 10, sizeVariationBytes: 10 }, 'sizeVariationBytes'],
    [slicerFault, { delayUs: 1_000_001 }, 'delayUs'],
    [limitDataFault, {}, 'bytes'],
    [limitDataFault, { bytes: -1 }, 'bytes'],
    [slowCloseFault, { delayMs: 3_600_001 }, 'delayMs'],
  ].map(([kind, attributes, field]) => [(kind as FaultKind<unknown>).type, attributes, field, kind] as const))(
    '%s rejects %o naming %s',
    (_type, attributes, field, kind) => {
      const parsed = (kind as FaultKind<unknown>).attributes.safeParse(attributes);
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]?.path).toEqual([field]);
    },
  );

  test('descriptions are one line for the timeline', async () => {
    await using echo = await echoServer();
    const { site, proxy } = await proxiedSite(echo.port);
    await using _proxy = proxy;
    const cases: Array<[FaultKind<unknown>, unknown, string]> = [
      [latencyFault, { latencyMs: 200, jitterMs: 50 }, 'latency +200±50 ms downstream 100% → backend-api-1'],
      [latencyFault, { latencyMs: 200, jitterMs: 0 }, 'latency +200 ms downstream 100% → backend-api-1'],
      [bandwidthFault, { rateKbps: 64 }, 'bandwidth 64 KB/s downstream 100% → backend-api-1'],
      [resetPeerFault, { timeoutMs: 0 }, 'reset_peer at once downstream 100% → backend-api-1'],
      [timeoutFault, { timeoutMs: 5000 }, 'timeout blackhole, closes after 5000 ms downstream 100% → backend-api-1'],
      [slicerFault, { averageSizeBytes: 64, sizeVariationBytes: 32, delayUs: 10 }, 'slicer 64±32 B every 10 µs downstream 100% → backend-api-1'],
      [limitDataFault, { bytes: 1000 }, 'limit_data close after 1000 B downstream 100% → backend-api-1'],
      [slowCloseFault, { delayMs: 500 }, 'slow_close FIN +500 ms downstream 100% → backend-api-1'],
    ];
    for (const [kind, attributes, description] of cases) {
      const applied = await kind.apply(site, { attributes, stream: 'downstream', toxicity: 1 }, ctx);
      expect(applied.description).toBe(description);
      expect(applied.site).toBe('backend-api-1');
      await applied.undo();
    }
    const half = await latencyFault.apply(site, { attributes: { latencyMs: 5, jitterMs: 0 }, stream: 'upstream', toxicity: 0.5 }, ctx);
    expect(half.description).toBe('latency +5 ms upstream 50% → backend-api-1');
    await half.undo();
  });

  test('applying to a site without a fault proxy is an LBDRILL_ERR_FAULT naming the site', async () => {
    for (const kind of NETWORK_FAULTS) {
      const attributes = kind.attributes.safeParse({ bytes: 1 }).data ?? kind.attributes.parse({});
      const err = await kind
        .apply({ name: 'backend-api-2', backend }, { attributes, stream: 'downstream', toxicity: 1 }, ctx)
        .catch((e: unknown) => e);
      expect(isLbdrillError(err, 'LBDRILL_ERR_FAULT'), kind.type).toBe(true);
      expect((err as Error).message).toContain('backend-api-2 has no fault proxy');
    }
  });

  test('undo removes the toxic and may run more than once', async () => {
    await using echo = await echoServer();
    const { site, proxy } = await proxiedSite(echo.port);
    await using _proxy = proxy;
    const applied = await slowCloseFault.apply(site, { attributes: { delayMs: 1 }, stream: 'upstream', toxicity: 1 }, ctx);
    expect(proxy.toxics).toEqual(['slow_close_upstream']);
    await applied.undo();
    await applied.undo();
    expect(proxy.toxics).toEqual([]);
  });
});

describe('network faults at the socket', () => {
  test('latency delays responses on a pooled keep-alive connection, on new ones, and undo restores it', async () => {
    const latencyMs = 300;
    const { site, proxy } = await proxiedSite(backend.port);
    await using _proxy = proxy;
    const pooled = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const fresh = new http.Agent({ keepAlive: false });
    function get(agent: http.Agent, path: string): Promise<{ elapsedMs: number; localPort: number }> {
      const startedAt = performance.now();
      return new Promise((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: proxy.port, path, agent }, (res) => {
          const localPort = res.socket.localPort ?? 0;
          res.resume();
          res.on('end', () => resolve({ elapsedMs: performance.now() - startedAt, localPort }));
        });
        req.on('error', reject);
      });
    }
    try {
      const before = await get(pooled, '/before');
      const applied = await latencyFault.apply(site, { attributes: { latencyMs, jitterMs: 0 }, stream: 'downstream', toxicity: 1 }, ctx);
      const during = await get(pooled, '/during');
      const newConnection = await get(fresh, '/new-connection');
      await applied.undo();
      const after = await get(pooled, '/after');

      expect([during.localPort, after.localPort]).toEqual([before.localPort, before.localPort]);
      const seq = (path: string): number | undefined => backend.requests.find((r) => r.rawPath === path)?.connectionSeq;
      expect(seq('/during')).toBe(seq('/before'));
      expect(seq('/after')).toBe(seq('/before'));
      expect(seq('/new-connection')).not.toBe(seq('/before'));
      for (const delayed of [during, newConnection]) {
        expect(delayed.elapsedMs).toBeGreaterThanOrEqual(latencyMs - TIMER_SLACK_MS);
        expect(delayed.elapsedMs).toBeLessThan(latencyMs + LOAD_SLACK_MS);
      }
      expect(after.elapsedMs).toBeLessThan(latencyMs);
    } finally {
      pooled.destroy();
      fresh.destroy();
    }
  });

  test('latency with jitter keeps every message within latency ± jitter, in order', async () => {
    const latencyMs = 150;
    const jitterMs = 100;
    await using echo = await echoServer();
    const { site, proxy } = await proxiedSite(echo.port);
    await using _proxy = proxy;
    const probe = await SocketProbe.connect(proxy.port);
    await latencyFault.apply(site, { attributes: { latencyMs, jitterMs }, stream: 'upstream', toxicity: 1 }, ctx);
    const messages = Array.from({ length: 20 }, (_, i) => `${String(i).padStart(3, '0')};`);
    const delays: number[] = [];
    let expected = 0;
    for (const message of messages) {
      const sentAt = await probe.send(message);
      expected += message.length;
      delays.push((await within(probe.waitForBytes(expected), EVENT_DEADLINE_MS, 'echo')) - sentAt);
    }
    expect(probe.data().toString()).toBe(messages.join(''));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(latencyMs - jitterMs - TIMER_SLACK_MS);
    expect(Math.max(...delays)).toBeLessThan(latencyMs + jitterMs + LOAD_SLACK_MS);
    // Jitter really varies the delay (the seeded draws spread over ±100 ms).
    expect(Math.max(...delays) - Math.min(...delays)).toBeGreaterThan(jitterMs / 2);
  });

  test('bandwidth paces a 600 kB download at the stated rate', async () => {
    const rateKbps = 300;
    const totalBytes = 600_000;
    const expectedMs = totalBytes / rateKbps;
    const payload = pattern(totalBytes);
    await using server = await answeringServer((socket) => socket.write(payload));
    const { site, proxy } = await proxiedSite(server.port);
    await using _proxy = proxy;
    await bandwidthFault.apply(site, { attributes: { rateKbps }, stream: 'downstream', toxicity: 1 }, ctx);
    const probe = await SocketProbe.connect(proxy.port);
    const startedAt = await probe.send('go');
    const doneAt = await within(probe.waitForBytes(totalBytes), expectedMs * 3, 'paced download');
    const elapsedMs = doneAt - startedAt;
    // ±: the proxy may not run late by more than the load allows, and can never be early.
    expect(elapsedMs, `throughput ${(totalBytes / elapsedMs).toFixed(0)} KB/s for ${rateKbps} KB/s`).toBeGreaterThanOrEqual(expectedMs * 0.95);
    expect(elapsedMs).toBeLessThan(expectedMs * 1.5);
    expect(probe.data().equals(payload)).toBe(true);
  });

  test('reset_peer resets open connections and new ones while active; undo lets new ones live', async () => {
    await using echo = await echoServer();
    const { site, proxy } = await proxiedSite(echo.port);
    await using _proxy = proxy;
    const open = await SocketProbe.connect(proxy.port);
    await open.send('.');
    await within(open.waitForBytes(1), EVENT_DEADLINE_MS, 'first echo');
    const backendSocket = [...echo.sockets][0]!;
    const backendError = new Promise<NodeJS.ErrnoException>((resolve) => backendSocket.once('error', resolve));

    const applied = await resetPeerFault.apply(site, { attributes: { timeoutMs: 0 }, stream: 'downstream', toxicity: 1 }, ctx);
    expect((await within(open.closed, EVENT_DEADLINE_MS, 'open connection reset')).error?.code).toBe('ECONNRESET');
    expect((await within(backendError, EVENT_DEADLINE_MS, 'backend side reset')).code).toBe('ECONNRESET');
    const newcomer = await SocketProbe.connect(proxy.port);
    expect((await within(newcomer.closed, EVENT_DEADLINE_MS, 'new connection reset')).error?.code).toBe('ECONNRESET');

    await applied.undo();
    const after = await SocketProbe.connect(proxy.port);
    await after.send('still here');
    await within(after.waitForBytes(10), EVENT_DEADLINE_MS, 'echo after undo');
    expect(after.data().toString()).toBe('still here');
  });

  test('reset_peer with timeoutMs lets data pass, then resets no sooner than timeoutMs', async () => {
    const timeoutMs = 1000;
    await using echo = await echoServer();
    const { site, proxy } = await proxiedSite(echo.port);
    await using _proxy = proxy;
    const probe = await SocketProbe.connect(proxy.port);
    const appliedAt = performance.now();
    await resetPeerFault.apply(site, { attributes: { timeoutMs }, stream: 'upstream', toxicity: 1 }, ctx);
    await probe.send('before the reset');
    await within(probe.waitForBytes(16), timeoutMs, 'echo before the reset');
    const end = await within(probe.closed, timeoutMs + EVENT_DEADLINE_MS, 'reset');
    expect(end.error?.code).toBe('ECONNRESET');
    expect(end.atMs - appliedAt).toBeGreaterThanOrEqual(timeoutMs - TIMER_SLACK_MS);
    expect(end.atMs - appliedAt).toBeLessThan(timeoutMs + LOAD_SLACK_MS);
  });

  test('timeout: no bytes reach the client, then FIN after timeoutMs', async () => {
    const timeoutMs = 500;
    let backendGot = '';
    await using echo = await startTcpServer((socket) => {
      socket.on('data', (chunk: Buffer) => (backendGot += chunk.toString()));
      socket.pipe(socket);
    });
    const { site, proxy } = await proxiedSite(echo.port);
    await using _proxy = proxy;
    const probe = await SocketProbe.connect(proxy.port);
    const appliedAt = performance.now();
    await timeoutFault.apply(site, { attributes: { timeoutMs }, stream: 'downstream', toxicity: 1 }, ctx);
    await probe.send('ping');
    const finAt = await within(probe.ended, timeoutMs + EVENT_DEADLINE_MS, 'FIN');
    expect(backendGot).toBe('ping');
    expect(probe.bytes).toBe(0);
    expect(finAt - appliedAt).toBeGreaterThanOrEqual(timeoutMs - TIMER_SLACK_MS);
    expect(finAt - appliedAt).toBeLessThan(timeoutMs + LOAD_SLACK_MS);
  });

  test('timeout 0 holds the data and never closes; undo delivers it on the same connection', async () => {
    /** How long the client watches for a leak once the proxy holds the reply. */
    const watchMs = 300;
    await using echo = await echoServer();
    const { site, proxy } = await proxiedSite(echo.port);
    await using _proxy = proxy;
    const probe = await SocketProbe.connect(proxy.port);
    const applied = await timeoutFault.apply(site, { attributes: { timeoutMs: 0 }, stream: 'downstream', toxicity: 1 }, ctx);
    await probe.send('ping');
    await until(() => proxy.heldBytes === 4, EVENT_DEADLINE_MS, 'reply held in the proxy');
    const leaked = await Promise.race([probe.waitForBytes(1).then(() => 'data'), probe.ended.then(() => 'FIN'), new Promise((r) => setTimeout(r, watchMs, 'nothing'))]);
    expect(leaked).toBe('nothing');
    await applied.undo();
    await within(probe.waitForBytes(4), EVENT_DEADLINE_MS, 'reply after undo');
    expect(probe.data().toString()).toBe('ping');
    await probe.send('pong');
    await within(probe.waitForBytes(8), EVENT_DEADLINE_MS, 'next echo');
    expect(probe.data().toString()).toBe('pingpong');
  });

  test('slicer: the client reads many small pieces; undo restores whole reads', async () => {
    const blockBytes = 8192;
    await using server = await answeringServer((socket) => socket.write(pattern(blockBytes)));
    const { site, proxy } = await proxiedSite(server.port);
    await using _proxy = proxy;
    const probe = await SocketProbe.connect(proxy.port);
    async function readsForOneBlock(round: number): Promise<number> {
      const readsBefore = probe.reads.length;
      await probe.send('go');
      await within(probe.waitForBytes(blockBytes * round), EVENT_DEADLINE_MS, `block ${round}`);
      return probe.reads.length - readsBefore;
    }
    expect(await readsForOneBlock(1)).toBeLessThanOrEqual(2);
    const applied = await slicerFault.apply(
      site,
      { attributes: { averageSizeBytes: 256, sizeVariationBytes: 128, delayUs: 2000 }, stream: 'downstream', toxicity: 1 },
      ctx,
    );
    // About 32 slices 2 ms apart; a busy machine may merge a few in one read.
    expect(await readsForOneBlock(2)).toBeGreaterThanOrEqual(16);
    await applied.undo();
    expect(await readsForOneBlock(3)).toBeLessThanOrEqual(2);
    expect(probe.data().equals(Buffer.concat([pattern(blockBytes), pattern(blockBytes), pattern(blockBytes)]))).toBe(true);
  });

  test('limit_data: exactly the limit passes from when it applies, then FIN to both sides', async () => {
    const before = pattern(200);
    const rest = pattern(3000, 200);
    let backendSocket: net.Socket | undefined;
    await using server = await startTcpServer((socket) => {
      backendSocket = socket;
      socket.on('data', (chunk: Buffer) => {
        if (chunk.toString() === 'first') socket.write(before);
        else for (let i = 0; i < rest.length; i += 300) socket.write(rest.subarray(i, i + 300));
      });
    });
    const { site, proxy } = await proxiedSite(server.port);
    await using _proxy = proxy;
    const probe = await SocketProbe.connect(proxy.port);
    await probe.send('first');
    await within(probe.waitForBytes(200), EVENT_DEADLINE_MS, 'data before the limit');
    await limitDataFault.apply(site, { attributes: { bytes: 1000 }, stream: 'downstream', toxicity: 1 }, ctx);
    const backendEnded = until(() => backendSocket?.readableEnded === true, EVENT_DEADLINE_MS, 'backend sees FIN');
    await probe.send('second');
    await within(probe.ended, EVENT_DEADLINE_MS, 'FIN after the limit');
    expect(probe.bytes).toBe(1200);
    expect(probe.data().equals(Buffer.concat([before, rest.subarray(0, 1000)]))).toBe(true);
    await backendEnded;
  });

  test('slow_close: data arrives at once, the FIN no sooner than delayMs after the backend sent it', async () => {
    const delayMs = 500;
    let backendEndedAt = 0;
    await using server = await answeringServer((socket) => {
      backendEndedAt = performance.now();
      socket.end('bye');
    });
    const { site, proxy } = await proxiedSite(server.port);
    await using _proxy = proxy;

    const baseline = await SocketProbe.connect(proxy.port);
    await baseline.send('go');
    const baselineFinAt = await within(baseline.ended, EVENT_DEADLINE_MS, 'baseline FIN');
    expect(baselineFinAt - backendEndedAt).toBeLessThan(delayMs);

    await slowCloseFault.apply(site, { attributes: { delayMs }, stream: 'downstream', toxicity: 1 }, ctx);
    const probe = await SocketProbe.connect(proxy.port);
    await probe.send('go');
    const dataAt = await within(probe.waitForBytes(3), EVENT_DEADLINE_MS, 'data');
    const finAt = await within(probe.ended, delayMs + EVENT_DEADLINE_MS, 'FIN');
    expect(dataAt - backendEndedAt).toBeLessThan(delayMs);
    expect(finAt - backendEndedAt).toBeGreaterThanOrEqual(delayMs - TIMER_SLACK_MS);
    expect(finAt - backendEndedAt).toBeLessThan(delayMs + LOAD_SLACK_MS);
    expect(probe.data().toString()).toBe('bye');
  });
});
