import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { startBackend } from '../../fixtures/backend/backend.ts';
import type { StartedBackend } from '../../fixtures/backend/backend.ts';
import { isLbdrillError } from '../errors.ts';
import { resetSocket } from '../faults/reset-socket.ts';
import { CertificateAuthority } from '../tls/certificate-authority.ts';
import { nowMs, WsFleet } from './ws-fleet.ts';
import type { StartedWsFleet, WsFleetEvents, WsFleetOptions } from './ws-fleet.ts';

/** This file's loopback addresses: backends and forwarders on 127.0.80.x, clients from 127.0.5.x. */
const BACKEND_HOST = '127.0.80.1';
const FORWARDER_HOST = '127.0.80.100';
const clientAddress = (i: number): string => `127.0.5.${1 + (i % 50)}`;
/** Generous: two shared cores, hundreds of sockets. */
const WAIT_MS = 30_000;
const BACKOFF = { initialMs: 50, maxMs: 400 };

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function backend(id: string, host = BACKEND_HOST): Promise<StartedBackend> {
  const b = await startBackend({ id, host, port: 0 });
  cleanups.push(() => b.close());
  return b;
}

async function fleet(opts: Partial<WsFleetOptions> & Pick<WsFleetOptions, 'count'>): Promise<StartedWsFleet> {
  const f = await WsFleet.start({ backoff: BACKOFF, seed: 7, connectTimeoutMs: 5000, ...opts });
  cleanups.push(() => f.close());
  return f;
}

/** Resolves after `n` more `name` events of the fleet (event-driven, no polling). */
function nextEvents<K extends keyof WsFleetEvents>(f: StartedWsFleet, name: K, n: number, timeoutMs = WAIT_MS): Promise<Array<WsFleetEvents[K]>> {
  const seen: Array<WsFleetEvents[K]> = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      f.events.off(name, on as never);
      reject(new Error(`only ${seen.length} of ${n} ${name} events within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (...args: WsFleetEvents[K]): void => {
      seen.push(args);
      if (seen.length < n) return;
      clearTimeout(timer);
      f.events.off(name, on as never);
      resolve(seen);
    };
    f.events.on(name, on as never);
  });
}

/** Resolves once `pred` holds, re-checked on every backend message any client receives. */
function untilMessages(f: StartedWsFleet, pred: () => boolean, timeoutMs = WAIT_MS): Promise<void> {
  return new Promise((resolve, reject) => {
    const off = (): void => {
      clearTimeout(timer);
      for (const c of f.clients) c.events.off('message', check);
    };
    const check = (): void => {
      if (!pred()) return;
      off();
      resolve();
    };
    const timer = setTimeout(() => {
      off();
      reject(new Error(`condition not met within ${timeoutMs} ms: ${JSON.stringify(f.stats().messages)}`));
    }, timeoutMs);
    for (const c of f.clients) c.events.on('message', check);
    check();
  });
}

/**
 * A test-only round-robin TCP forwarder standing in for an LB: it skips backends that refuse
 * and passes a reset on either side through as a reset, as a proxy losing its upstream would.
 */
async function roundRobin(backends: readonly StartedBackend[]): Promise<{ port: number }> {
  const sockets = new Set<net.Socket>();
  let next = 0;
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    const tryBackend = (left: number): void => {
      const b = backends[next++ % backends.length]!;
      const upstream = net.connect({ host: b.host, port: b.port });
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      let connected = false;
      upstream.once('connect', () => {
        connected = true;
        client.pipe(upstream).pipe(client);
      });
      upstream.on('error', () => {
        if (!connected && left > 1 && !client.destroyed) tryBackend(left - 1);
        else resetSocket(client);
      });
      upstream.on('close', () => {
        if (connected && !client.destroyed) client.destroy();
      });
      client.on('close', () => upstream.destroy());
    };
    tryBackend(backends.length);
  });
  await new Promise<void>((resolve) => server.listen(0, FORWARDER_HOST, resolve));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as net.AddressInfo).port };
}

describe('WsFleet', () => {
  it('connects 200 clients from distinct source addresses, counts messages, and brings them back with their cookie jars after a restart', async () => {
    const a = await backend('ws-a');
    const f = await fleet({
      count: 200,
      url: `ws://${a.address}/live?set_cookie=ROUTE`,
      localAddress: clientAddress,
      cookies: (i) => ({ user: `u${i}` }),
      pushMs: 100,
      sendEveryMs: 100,
    });
    await f.waitAllConnected(WAIT_MS);
    await a.waitForOpenWebSockets(200, WAIT_MS);
    expect(f.stats()).toMatchObject({ connected: 200, connects: 200, perBackend: { 'ws-a': 200 }, reconnects: 0 });
    for (const c of f.clients) {
      expect(c.lastHello).toMatchObject({ backend: 'ws-a', remoteAddress: clientAddress(c.index), cookie: `user=u${c.index}`, path: '/live?set_cookie=ROUTE' });
      expect(c.cookies.toObject()).toEqual({ user: `u${c.index}`, ROUTE: 'ws-a' });
    }
    expect(new Set(a.requests.map((r) => r.remoteAddress)).size).toBe(50);

    await untilMessages(f, () => f.clients.every((c) => c.counters.echoes >= 2 && c.counters.pushes >= 2));

    // Stop the backend, see every client cut and retrying against a closed port, then restart it.
    const cuts = nextEvents(f, 'disconnected', 200);
    const refused = nextEvents(f, 'attempt-failed', 1);
    const cutAt = nowMs();
    await a.stop();
    await cuts;
    expect((await refused)[0]![1]).toMatchObject({ reason: 'ECONNREFUSED', consecutive: 1 });
    const upAt = nowMs();
    await a.start();
    await f.waitAllReconnectedSince(cutAt, WAIT_MS, { clients: f.clients });

    for (const c of f.clients) {
      const cut = c.disconnects[0]!;
      expect(c.disconnects).toHaveLength(1);
      expect(cut).toMatchObject({ backendBefore: 'ws-a', backendAfter: 'ws-a' });
      expect(cut.reason).toMatch(/^(ECONNRESET|close-1006)$/);
      // No hello can come before the restart.
      expect(cut.reconnectedAtMs).toBeGreaterThanOrEqual(upAt);
      expect(cut.attempts).toBeGreaterThanOrEqual(1);
      expect(c.lastHello?.cookie).toBe(`user=u${c.index}; ROUTE=ws-a`);
    }
    const stats = f.stats();
    expect(stats).toMatchObject({ connected: 200, connects: 400, disconnects: 200, reconnects: 200, moved: 0 });
    expect(stats.failuresByReason.ECONNREFUSED).toBeGreaterThanOrEqual(1);
    const r = stats.reconnectMs!;
    expect(r.count).toBe(200);
    expect(r.p50Ms).toBeGreaterThan(0);
    expect(r.p50Ms).toBeLessThanOrEqual(r.p95Ms);
    // The histogram keeps 3 significant digits.
    expect(r.p95Ms).toBeLessThanOrEqual(r.maxMs * 1.001 + 1);
    expect(r.maxMs).toBeLessThan(WAIT_MS);

    const m = stats.messages;
    expect(m.sent).toBeGreaterThanOrEqual(400);
    expect(m.echoes).toBeGreaterThanOrEqual(400);
    expect(m.pushes).toBeGreaterThanOrEqual(400);
    expect(m.echoes + m.lost).toBeLessThanOrEqual(m.sent);
    expect(m.received).toBeGreaterThanOrEqual(m.echoes + m.pushes + stats.connects);
    expect(m.seqGaps).toBe(0);
    expect(m.malformed).toBe(0);

    await f.close();
    expect(f.clients.every((c) => c.state === 'closed')).toBe(true);
    await a.waitForOpenWebSockets(0, WAIT_MS);
    expect(a.openConnections).toBe(0);
    expect(f.stats().connected).toBe(0);
  });

  it('fails over through a round-robin forwarder: clients of a stopped backend move to the others', async () => {
    const backends = [await backend('b1', '127.0.80.11'), await backend('b2', '127.0.80.12'), await backend('b3', '127.0.80.13')];
    const fwd = await roundRobin(backends);
    const f = await fleet({ count: 90, url: `ws://${FORWARDER_HOST}:${fwd.port}/live`, sendEveryMs: 200 });
    await f.waitAllConnected(WAIT_MS);
    expect(f.stats().perBackend).toEqual({ b1: 30, b2: 30, b3: 30 });

    const victims = f.clients.filter((c) => c.backend === 'b2');
    const bystanders = f.clients.filter((c) => c.backend !== 'b2');
    const cutAt = nowMs();
    await backends[1]!.stop();
    await f.waitAllReconnectedSince(cutAt, WAIT_MS, { clients: victims });

    for (const c of victims) {
      expect(c.disconnects).toHaveLength(1);
      expect(c.disconnects[0]).toMatchObject({ backendBefore: 'b2', backendAfter: expect.stringMatching(/^b[13]$/) });
    }
    for (const c of bystanders) expect(c.disconnects).toEqual([]);
    const stats = f.stats();
    expect(stats).toMatchObject({ connected: 90, reconnects: 30, moved: 30 });
    expect(stats.perBackend.b2).toBeUndefined();
    expect((stats.perBackend.b1 ?? 0) + (stats.perBackend.b3 ?? 0)).toBe(90);
  });

  it('cuts silent connections of a hung backend, counts their unanswered messages as lost, and reconnects once the hang ends', async () => {
    const b = await backend('hung');
    const f = await fleet({
      count: 20,
      url: `ws://${b.address}/live`,
      pushMs: 50,
      sendEveryMs: 50,
      silenceTimeoutMs: 400,
      connectTimeoutMs: 500,
    });
    await f.waitAllConnected(WAIT_MS);
    await untilMessages(f, () => f.clients.every((c) => c.counters.pushes >= 1));

    const cuts = nextEvents(f, 'disconnected', 20);
    const heldTooLong = new Promise<void>((resolve) => {
      const on: (...args: WsFleetEvents['attempt-failed']) => void = (_c, failure) => {
        if (failure.reason !== 'timeout') return;
        f.events.off('attempt-failed', on);
        resolve();
      };
      f.events.on('attempt-failed', on);
    });
    const hangAt = nowMs();
    b.setHang(true);
    for (const [, cut] of await cuts) {
      expect(cut.reason).toBe('silence');
      // Silence counts from the last push, up to one push interval (50 ms) before the hang;
      // 10 ms more for timers firing early.
      expect(cut.atMs - hangAt).toBeGreaterThanOrEqual(340);
      expect(cut.atMs - hangAt).toBeLessThan(5000);
    }
    // Reconnects hit the hang too: the upgrade is held until connectTimeoutMs.
    await heldTooLong;
    expect(f.stats().messages.lost).toBeGreaterThan(0);
    expect(f.stats().disconnectsByReason).toEqual({ silence: 20 });

    b.setHang(false);
    await f.waitAllReconnectedSince(hangAt, WAIT_MS, { clients: f.clients });
    expect(f.stats().failuresByReason.timeout).toBeGreaterThanOrEqual(1);
  });

  it('keeps at most connectConcurrency initial connects in flight', async () => {
    const b = await backend('slow-101');
    b.setSlow({ delayMs: 100, jitterMs: 0, seed: 1, healthToo: false });
    let inFlight = 0;
    let most = 0;
    b.events.on('request', (rec) => {
      if (!rec.websocket) return;
      inFlight++;
      most = Math.max(most, inFlight);
    });
    b.events.on('websocket-open', () => inFlight--);
    const f = await fleet({ count: 40, url: `ws://${b.address}/live`, connectConcurrency: 5 });
    await f.ramped;
    await f.waitAllConnected(WAIT_MS);
    expect(most).toBeLessThanOrEqual(5);
    expect(most).toBeGreaterThanOrEqual(2);
  });

  it('wss: sends SNI and the Host it is given and trusts only the given CA', async () => {
    const b = await backend('tls-backend');
    const ca = await CertificateAuthority.create();
    const cert = await ca.issue(['ws.lbdrill.test']);
    const serverNames: Array<string | false | null> = [];
    const tlsSockets = new Set<net.Socket>();
    const server = tls.createServer({ cert: cert.certPem, key: cert.keyPem }, (client) => {
      serverNames.push(client.servername);
      const upstream = net.connect({ host: b.host, port: b.port });
      for (const s of [client, upstream]) {
        tlsSockets.add(s);
        s.on('error', () => {});
        s.on('close', () => tlsSockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    server.on('tlsClientError', () => {});
    await new Promise<void>((resolve) => server.listen(0, FORWARDER_HOST, resolve));
    cleanups.push(async () => {
      for (const s of tlsSockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    });
    const endpoint = { host: FORWARDER_HOST, port: (server.address() as net.AddressInfo).port, tls: true, serverName: 'ws.lbdrill.test' };

    const f = await fleet({ count: 5, endpoint, ca: ca.certPem, pathFor: (i) => `/room/${i}`, cookies: { app: 'tls' } });
    await f.waitAllConnected(WAIT_MS);
    expect(serverNames).toEqual(Array(5).fill('ws.lbdrill.test'));
    for (const c of f.clients) expect(c.lastHello).toMatchObject({ host: 'ws.lbdrill.test', path: `/room/${c.index}`, cookie: 'app=tls' });

    const stranger = await CertificateAuthority.create('not lbdrill');
    const untrusting = await fleet({ count: 1, endpoint, ca: stranger.certPem });
    const [[, failure]] = (await nextEvents(untrusting, 'attempt-failed', 1)) as [WsFleetEvents['attempt-failed']];
    expect(failure.reason).toMatch(/CERT|SIGNATURE|ISSUER/);
    expect(untrusting.stats().connected).toBe(0);

    const noCa = await WsFleet.start({ count: 1, endpoint, backoff: BACKOFF, seed: 1, connectTimeoutMs: 1000 }).catch((e: unknown) => e);
    expect(isLbdrillError(noCa, 'LBDRILL_ERR_USAGE')).toBe(true);
  });

  it('records a refused upgrade as http-<status> and keeps retrying with growing delays', async () => {
    const b = await backend('refuser');
    const f = await fleet({ count: 1, url: `ws://${b.address}/live?push_ms=1`, backoff: { initialMs: 20, maxMs: 80, jitter: 0 } });
    const failures = (await nextEvents(f, 'attempt-failed', 4)).map(([, failure]) => failure);
    expect(failures.map((x) => [x.reason, x.status, x.consecutive, x.nextDelayMs])).toEqual([
      ['http-400', 400, 1, 40],
      ['http-400', 400, 2, 80],
      ['http-400', 400, 3, 80],
      ['http-400', 400, 4, 80],
    ]);
    await f.close();
    // close() stops retrying: nothing new arrives over more than twice the longest backoff
    // (after a moment for an attempt already on the wire to land).
    await sleep(100);
    const attempts = b.requests.length;
    await sleep(200);
    expect(b.requests.length).toBe(attempts);
    expect(f.clients[0]?.state).toBe('closed');
  });

  it('rejects bad options with LBDRILL_ERR_USAGE naming the field', async () => {
    const base = { url: 'ws://127.0.0.1:1/x', backoff: BACKOFF, seed: 1, connectTimeoutMs: 1000 };
    const cases: Array<[Partial<WsFleetOptions>, RegExp]> = [
      [{ count: 2001 }, /count must be an integer in 1\.\.2000/],
      [{ count: 0 }, /count/],
      [{ count: 1, endpoint: { host: 'h', port: 1, tls: false, serverName: 'h' } }, /exactly one of url and endpoint/],
      [{ count: 1, backoff: { initialMs: 100, maxMs: 10 } }, /backoff.maxMs/],
      [{ count: 1, pathFor: () => 'nope' }, /pathFor\(0\) must start with \//],
      [{ count: 1, url: 'http://127.0.0.1:1/' }, /url: expected ws: or wss:/],
    ];
    for (const [opts, message] of cases) {
      const err = await WsFleet.start({ count: 1, ...base, ...opts } as WsFleetOptions).catch((e: unknown) => e);
      expect(isLbdrillError(err, 'LBDRILL_ERR_USAGE'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(message);
    }
  });
});
