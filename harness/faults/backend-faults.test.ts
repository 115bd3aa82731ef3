/**
 * Backend faults as a peer sees them: real backends on loopback, raw TCP and HTTP clients,
 * and the bytes, resets and refusals that come back.
 */
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { startBackend } from '../../fixtures/backend/index.ts';
import type { BackendMode, RecordedRequest, StartedBackend } from '../../fixtures/backend/index.ts';
import { crashFault } from './crash.ts';
import { errorsFault } from './errors.ts';
import type { AppliedFault, FaultContext, FaultKind, FaultSite } from './fault.ts';
import { flapFault } from './flap.ts';
import { hangFault } from './hang.ts';
import { healthFailFault } from './health-fail.ts';
import { slowFault } from './slow.ts';
import { stopFault } from './stop.ts';

/** This file's loopback address: other suites use other 127.x.y.z, so nobody binds a stopped backend's port under us. */
const HOST = '127.0.78.1';
const HEALTH_PATHS = ['/health', '/api/v1/health'];
const MiB = 1024 * 1024;
const SEED = 20_240_611;
/** Bounds a wait on the backend's own events, so a broken fault fails instead of hanging the suite. */
const WAIT_MS = 10_000;
/** Absence of an answer can only be shown by waiting; this long after the backend holds the request. */
const HANG_SILENCE_MS = 500;
/** Timers never fire early (1 ms clock truncation aside); the upper bound absorbs a loaded 2-core box. */
const EARLY_TOLERANCE_MS = 2;
const LATE_TOLERANCE_MS = 1000;
/** Requests per errors run; at rate 0.5 the failed share must land in 35..65 %. */
const ERRORS_SAMPLE = 100;

const backends: StartedBackend[] = [];
const applied: AppliedFault[] = [];
const runs: AbortController[] = [];
afterEach(async () => {
  for (const run of runs.splice(0)) run.abort();
  for (const fault of applied.splice(0).reverse()) await fault.undo().catch(() => undefined);
  await Promise.all(backends.splice(0).map((b) => b.close()));
});

async function site(name = 'backend-api-1'): Promise<FaultSite & { backend: StartedBackend }> {
  const backend = await startBackend({ id: name, host: HOST, port: 0, healthPaths: HEALTH_PATHS });
  backends.push(backend);
  return { name, backend, fixture: backend };
}

function context(seed = SEED): FaultContext {
  const run = new AbortController();
  runs.push(run);
  return { seed, signal: run.signal };
}

async function apply<A>(kind: FaultKind<A>, where: FaultSite, attributes: Record<string, unknown> = {}, ctx = context()): Promise<AppliedFault> {
  const settings = { attributes: kind.attributes.parse(attributes), stream: 'downstream' as const, toxicity: 1 };
  const fault = await kind.apply(where, settings, ctx);
  applied.push(fault);
  return fault;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** From sending the request (connect included) to the response head. */
  headAfterMs: number;
}

function get(b: StartedBackend, path: string, headers: Record<string, string> = {}, agent: http.Agent | false = false): Promise<Reply> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get({ host: b.host, port: b.port, path, headers, agent }, (res) => {
        const headAfterMs = performance.now() - t0;
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), headAfterMs }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** 'connected', or the connect error code (ECONNREFUSED). */
function connectOutcome(b: StartedBackend): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: b.host, port: b.port });
    s.on('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

function rawGet(path: string, headers: Record<string, string> = {}): string {
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
  return `GET ${path} HTTP/1.1\r\nHost: lbdrill\r\n${lines.join('')}\r\n`;
}

interface Head {
  status: number;
  contentLength: number | undefined;
  bodyBytes: number;
}

function headOf(data: Buffer): Head | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const text = data.subarray(0, end).toString('latin1');
  const length = /\r\ncontent-length: *(\d+)/i.exec(text)?.[1];
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0),
    contentLength: length === undefined ? undefined : Number(length),
    bodyBytes: data.length - end - 4,
  };
}

function responseComplete(data: Buffer): boolean {
  const head = headOf(data);
  return head?.contentLength !== undefined && head.bodyBytes >= head.contentLength;
}

/** One TCP connection as the peer sees it: the bytes received and how it ended. */
interface Peer {
  socket: net.Socket;
  data(): Buffer;
  /** 'ECONNRESET' for an RST, 'FIN' for an orderly close, else the error code. */
  ended: Promise<string>;
  until(pred: (data: Buffer) => boolean): Promise<Buffer>;
}

async function openPeer(b: StartedBackend): Promise<Peer> {
  const socket = net.connect({ host: b.host, port: b.port });
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  const waiters = new Set<() => void>();
  socket.on('data', (d: Buffer) => {
    chunks.push(d);
    for (const w of waiters) w();
  });
  const ended = new Promise<string>((resolve) => {
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    socket.on('end', () => resolve('FIN'));
    socket.on('close', () => resolve('close'));
  });
  const data = (): Buffer => Buffer.concat(chunks);
  const until = (pred: (d: Buffer) => boolean): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const d = data();
        if (!pred(d)) return;
        waiters.delete(check);
        resolve(d);
      };
      waiters.add(check);
      check();
      void ended.then((how) => {
        if (waiters.delete(check)) reject(new Error(`connection ended (${how}) after ${data().length} bytes`));
      });
    });
  return { socket, data, ended, until };
}

function byId(b: StartedBackend, id: string): RecordedRequest {
  const rec = b.requests.find((r) => r.lbdrillId === id);
  if (!rec) throw new Error(`no request ${id} recorded`);
  return rec;
}

describe('attributes', () => {
  const kinds = [stopFault, crashFault, hangFault, slowFault, errorsFault, healthFailFault, flapFault] as const;

  it('every backend fault acts on the backend layer and rejects unknown attributes', () => {
    expect(kinds.map((k) => k.type)).toEqual(['stop', 'crash', 'hang', 'slow', 'errors', 'health_fail', 'flap']);
    for (const kind of kinds) {
      expect(kind.layer).toBe('backend');
      expect(kind.attributes.safeParse({ latencyMs: 1 }).success).toBe(false);
    }
  });

  it('fills defaults', () => {
    expect(stopFault.attributes.parse({})).toEqual({});
    expect(crashFault.attributes.parse({})).toEqual({});
    expect(slowFault.attributes.parse({})).toEqual({ delayMs: 1000, jitterMs: 0, healthToo: true });
    expect(errorsFault.attributes.parse({})).toEqual({ rate: 1, status: 503 });
    expect(flapFault.attributes.parse({})).toEqual({ periodMs: 2000, downMs: 1000, mode: 'stop' });
    expect(flapFault.attributes.parse({ periodMs: 101, mode: 'health' })).toEqual({ periodMs: 101, downMs: 50, mode: 'health' });
  });

  it.each([
    ['errors', { rate: 1.5 }, 'rate', errorsFault],
    ['errors', { rate: -0.1 }, 'rate', errorsFault],
    ['errors', { status: 404 }, 'status', errorsFault],
    ['errors', { status: 600 }, 'status', errorsFault],
    ['errors', { status: 502.5 }, 'status', errorsFault],
    ['slow', { delayMs: 0 }, 'delayMs', slowFault],
    ['slow', { delayMs: 1.5 }, 'delayMs', slowFault],
    ['slow', { jitterMs: -1 }, 'jitterMs', slowFault],
    ['crash', { afterBytes: -1 }, 'afterBytes', crashFault],
    ['flap', { periodMs: 99 }, 'periodMs', flapFault],
    ['flap', { periodMs: 1000, downMs: 1000 }, 'downMs', flapFault],
    ['flap', { downMs: 0 }, 'downMs', flapFault],
    ['flap', { mode: 'dns' }, 'mode', flapFault],
  ] as Array<[string, Record<string, unknown>, string, FaultKind<unknown>]>)('%s rejects %j naming %s', (_name, input, field, kind) => {
    const parsed = kind.attributes.safeParse(input);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual([field]);
  });
});

describe('stop', () => {
  it('resets a keep-alive connection opened before and refuses new ones; undo (twice) serves again', async () => {
    const s = await site();
    const peer = await openPeer(s.backend);
    peer.socket.write(rawGet('/ka'));
    await peer.until(responseComplete);

    const fault = await apply(stopFault, s);
    expect(fault.description).toBe('stop backend-api-1');
    // An RST, not a FIN: the idle keep-alive connection fails instead of closing.
    expect(await peer.ended).toBe('ECONNRESET');
    expect(await connectOutcome(s.backend)).toBe('ECONNREFUSED');
    expect(s.backend.mode.state).toBe('stopped');

    await fault.undo();
    await fault.undo();
    expect((await get(s.backend, '/again')).status).toBe(200);
    expect(s.backend.mode.state).toBe('up');
  });
});

describe('crash', () => {
  it('cuts a streaming download after its head with fewer bytes than promised, resets idle connections, then refuses; undo serves', async () => {
    const s = await site();
    const sizeBytes = 64 * MiB;
    const idle = await openPeer(s.backend);
    idle.socket.write(rawGet('/ka'));
    await idle.until(responseComplete);
    const peer = await openPeer(s.backend);
    peer.socket.write(rawGet('/blob', { 'x-lbdrill-download': String(sizeBytes), 'x-lbdrill-id': 'dl-now' }));
    await peer.until((d) => (headOf(d)?.bodyBytes ?? 0) > 0);
    // Stop reading so the backend is held mid-body by backpressure when it dies.
    peer.socket.pause();

    const fault = await apply(crashFault, s);
    peer.socket.resume();
    // Nothing unread on the idle connection, so its RST surfaces as ECONNRESET.
    expect(await idle.ended).toBe('ECONNRESET');
    // Linux hands a peer the data it had queued before an RST and may then report EOF, not
    // ECONNRESET; either way the body stops short of Content-Length.
    expect(await peer.ended).toMatch(/^(ECONNRESET|FIN)$/);
    const head = headOf(peer.data());
    expect(head).toMatchObject({ status: 200, contentLength: sizeBytes });
    expect(head!.bodyBytes).toBeGreaterThan(0);
    expect(head!.bodyBytes).toBeLessThan(sizeBytes);

    const rec = byId(s.backend, 'dl-now');
    expect(rec.cutBy).toBe('crash');
    expect(rec.responseFinishedAtMs).toBeUndefined();
    expect(rec.responseBodyBytes).toBeLessThan(sizeBytes);
    expect(await connectOutcome(s.backend)).toBe('ECONNREFUSED');
    expect(s.backend.mode.state).toBe('crashed');

    await fault.undo();
    expect((await get(s.backend, '/after')).status).toBe(200);
    expect(s.backend.mode.state).toBe('up');
  });

  it('afterBytes: health and short responses pass; the next long response stops after exactly afterBytes body bytes', async () => {
    const s = await site();
    const fault = await apply(crashFault, s, { afterBytes: MiB });
    expect(s.backend.mode.crashArmed).toEqual({ afterBytes: MiB });
    expect(fault.description).toBe(`crash backend-api-1 after ${MiB} body bytes of its next response`);
    expect((await get(s.backend, '/api/v1/health')).status).toBe(200);
    expect((await get(s.backend, '/short')).status).toBe(200);

    const sizeBytes = 8 * MiB;
    const peer = await openPeer(s.backend);
    peer.socket.write(rawGet('/blob', { 'x-lbdrill-download': String(sizeBytes), 'x-lbdrill-id': 'dl-cut' }));
    expect(await peer.ended).toMatch(/^(ECONNRESET|FIN)$/);
    const head = headOf(peer.data());
    expect(head).toMatchObject({ status: 200, contentLength: sizeBytes });
    // The backend hands exactly afterBytes to the kernel; the RST drops what the peer had not received yet.
    expect(head!.bodyBytes).toBeLessThanOrEqual(MiB);
    const rec = byId(s.backend, 'dl-cut');
    expect(rec).toMatchObject({ crashAfterBytes: MiB, responseBodyBytes: MiB, cutBy: 'crash' });
    expect(await connectOutcome(s.backend)).toBe('ECONNREFUSED');

    await fault.undo();
    const after = await get(s.backend, '/after', { 'x-lbdrill-download': String(sizeBytes) });
    expect([after.status, after.body.length]).toEqual([200, sizeBytes]);
  });

  it('afterBytes: undo before any response claimed it cancels the crash', async () => {
    const s = await site();
    const fault = await apply(crashFault, s, { afterBytes: 0 });
    await fault.undo();
    expect(s.backend.mode.crashArmed).toBeUndefined();
    const reply = await get(s.backend, '/blob', { 'x-lbdrill-download': String(MiB) });
    expect([reply.status, reply.body.length]).toEqual([200, MiB]);
    expect(s.backend.mode.state).toBe('up');
  });
});

describe('hang', () => {
  it('accepts connections but answers nothing (health too); undo resets the held connections and serves new ones', async () => {
    const s = await site();
    const fault = await apply(hangFault, s);
    const app = await openPeer(s.backend);
    const health = await openPeer(s.backend);
    app.socket.write(rawGet('/app', { 'x-lbdrill-id': 'hung-app' }));
    health.socket.write(rawGet('/api/v1/health', { 'x-lbdrill-id': 'hung-health' }));
    await s.backend.waitForRequest((r) => r.lbdrillId === 'hung-app' && r.hung === true, WAIT_MS);
    await s.backend.waitForRequest((r) => r.lbdrillId === 'hung-health' && r.hung === true, WAIT_MS);
    await sleep(HANG_SILENCE_MS);
    expect([app.data().length, health.data().length]).toEqual([0, 0]);
    expect(s.backend.mode).toMatchObject({ state: 'up', hang: true });

    await fault.undo();
    expect(await app.ended).toBe('ECONNRESET');
    expect(await health.ended).toBe('ECONNRESET');
    expect(byId(s.backend, 'hung-app').cutBy).toBe('hang');
    expect((await get(s.backend, '/after')).status).toBe(200);
    expect((await get(s.backend, '/health')).status).toBe(200);
    await fault.undo();
    expect(s.backend.mode.hang).toBe(false);
  });

  it('stops a streaming response at its next chunk', async () => {
    const s = await site();
    const peer = await openPeer(s.backend);
    peer.socket.write(
      rawGet('/stream', { 'x-lbdrill-id': 'fc', 'x-lbdrill-first-chunk': '1000', 'x-lbdrill-pause-ms': '300', 'x-lbdrill-rest': '1000' }),
    );
    await peer.until((d) => (headOf(d)?.bodyBytes ?? 0) > 0);
    await apply(hangFault, s);
    await s.backend.waitForRequest((r) => r.lbdrillId === 'fc' && r.hung === true, WAIT_MS);
    expect(byId(s.backend, 'fc').responseBodyBytes).toBe(1000);
    expect(byId(s.backend, 'fc').responseFinishedAtMs).toBeUndefined();
  });
});

describe('slow', () => {
  const DELAY_MS = 400;

  it(`delays app and health heads by delayMs (−${EARLY_TOLERANCE_MS}/+${LATE_TOLERANCE_MS} ms); undo removes it`, async () => {
    const s = await site();
    const fault = await apply(slowFault, s, { delayMs: DELAY_MS });
    for (const path of ['/app', '/api/v1/health']) {
      const reply = await get(s.backend, path);
      expect(reply.status).toBe(200);
      expect(reply.headAfterMs).toBeGreaterThanOrEqual(DELAY_MS - EARLY_TOLERANCE_MS);
      expect(reply.headAfterMs).toBeLessThan(DELAY_MS + LATE_TOLERANCE_MS);
    }
    expect(s.backend.requests.map((r) => r.slowDelayMs)).toEqual([DELAY_MS, DELAY_MS]);

    await fault.undo();
    const after = await get(s.backend, '/after');
    expect(after.headAfterMs).toBeLessThan(DELAY_MS);
    expect(s.backend.requests.at(-1)?.slowDelayMs).toBeUndefined();
    expect(s.backend.mode.slow).toBeUndefined();
  });

  it('jitter is seeded (same delays on a rerun), stays within delayMs ± jitterMs; healthToo false spares health', async () => {
    const attrs = { delayMs: 300, jitterMs: 100, healthToo: false };
    const run = async (): Promise<number[]> => {
      const s = await site();
      await apply(slowFault, s, attrs);
      const health = await get(s.backend, '/health');
      expect(health.status).toBe(200);
      expect(health.headAfterMs).toBeLessThan(attrs.delayMs - attrs.jitterMs);
      for (let i = 0; i < 5; i++) {
        const reply = await get(s.backend, `/j${i}`, { 'x-lbdrill-id': `j${i}` });
        expect(reply.headAfterMs).toBeGreaterThanOrEqual(byId(s.backend, `j${i}`).slowDelayMs! - EARLY_TOLERANCE_MS);
      }
      expect(s.backend.requests[0]?.health).toBe(true);
      expect(s.backend.requests[0]?.slowDelayMs).toBeUndefined();
      return s.backend.requests.filter((r) => !r.health).map((r) => r.slowDelayMs!);
    };
    const first = await run();
    expect(await run()).toEqual(first);
    for (const d of first) {
      expect(d).toBeGreaterThanOrEqual(attrs.delayMs - attrs.jitterMs);
      expect(d).toBeLessThanOrEqual(attrs.delayMs + attrs.jitterMs);
    }
    expect(new Set(first).size).toBeGreaterThan(1);
  });
});

describe('errors', () => {
  async function statuses(seed: number): Promise<number[]> {
    const s = await site();
    await apply(errorsFault, s, { rate: 0.5 }, context(seed));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const seen: number[] = [];
    try {
      for (let i = 0; i < ERRORS_SAMPLE; i++) {
        // Health requests in between must neither fail nor shift which application requests fail.
        if (i % 10 === 0) expect((await get(s.backend, '/health', {}, agent)).status).toBe(200);
        const reply = await get(s.backend, `/e${i}`, {}, agent);
        if (reply.status !== 200) {
          expect(reply.status).toBe(503);
          expect(reply.headers['x-lbdrill-fault']).toBe('errors');
        }
        seen.push(reply.status);
      }
    } finally {
      agent.destroy();
    }
    return seen;
  }

  it('rate 0.5: the seed fixes which requests fail (rerun identical, other seed differs), about half fail, health stays 200', async () => {
    const first = await statuses(SEED);
    expect(await statuses(SEED)).toEqual(first);
    expect(await statuses(SEED + 1)).not.toEqual(first);
    const failed = first.filter((status) => status === 503).length;
    expect(failed).toBeGreaterThanOrEqual(ERRORS_SAMPLE * 0.35);
    expect(failed).toBeLessThanOrEqual(ERRORS_SAMPLE * 0.65);
  });

  it('rate 1 with status 500 fails every application request and records it; undo restores 200', async () => {
    const s = await site();
    const fault = await apply(errorsFault, s, { rate: 1, status: 500 });
    expect(fault.description).toBe('errors backend-api-1 500 on 100% of requests');
    for (let i = 0; i < 3; i++) expect((await get(s.backend, `/x${i}`)).status).toBe(500);
    expect(s.backend.requests.map((r) => r.injectedStatus)).toEqual([500, 500, 500]);
    await fault.undo();
    expect((await get(s.backend, '/x')).status).toBe(200);
    expect(s.backend.requests.at(-1)?.injectedStatus).toBeUndefined();
  });
});

describe('health_fail', () => {
  it('every health path answers 503 while the application answers 200; undo restores health', async () => {
    const s = await site();
    const fault = await apply(healthFailFault, s);
    for (const path of HEALTH_PATHS) expect((await get(s.backend, `${path}?probe=1`)).status).toBe(503);
    expect((await get(s.backend, '/api/v1/items')).status).toBe(200);
    expect(s.backend.mode.healthy).toBe(false);
    await fault.undo();
    for (const path of HEALTH_PATHS) expect((await get(s.backend, path)).status).toBe(200);
  });
});

describe('flap', () => {
  interface Observation {
    mode: BackendMode;
    atMs: number;
    probe: Promise<string>;
  }

  /** Probes the backend on each of its mode changes; the probe starts before the next phase can begin. */
  function observe(b: StartedBackend, probe: (mode: BackendMode) => Promise<string>): Observation[] {
    const seen: Observation[] = [];
    b.events.on('mode', (mode) => {
      seen.push({ mode, atMs: performance.now(), probe: probe(mode).catch((err: NodeJS.ErrnoException) => err.code ?? err.message) });
    });
    return seen;
  }

  async function transitions(b: StartedBackend, seen: Observation[], count: number): Promise<void> {
    while (seen.length < count) await once(b.events, 'mode', { signal: AbortSignal.timeout(WAIT_MS) });
  }

  it('stop mode: new connections are refused and served in turn, on the period; undo leaves it up and quiet', async () => {
    const periodMs = 1000;
    const downMs = 400;
    const s = await site();
    const seen = observe(s.backend, async (mode) => {
      const outcome = await connectOutcome(s.backend);
      if (mode.state !== 'up') return outcome;
      return `${outcome} ${(await get(s.backend, '/flap')).status}`;
    });
    const appliedAtMs = performance.now();
    const fault = await apply(flapFault, s, { periodMs, downMs });
    await transitions(s.backend, seen, 5);
    const first = seen.slice(0, 5);
    expect(first.map((o) => o.mode.state)).toEqual(['stopped', 'up', 'stopped', 'up', 'stopped']);
    expect(await Promise.all(first.map((o) => o.probe))).toEqual(['ECONNREFUSED', 'connected 200', 'ECONNREFUSED', 'connected 200', 'ECONNREFUSED']);
    // Each phase starts on its boundary from the start of the flap, never before it.
    const boundariesMs = [0, downMs, periodMs, periodMs + downMs, 2 * periodMs];
    first.forEach((o, i) => {
      const offsetMs = o.atMs - appliedAtMs;
      expect(offsetMs).toBeGreaterThanOrEqual(boundariesMs[i]! - EARLY_TOLERANCE_MS);
      expect(offsetMs).toBeLessThan(boundariesMs[i]! + LATE_TOLERANCE_MS);
    });

    await fault.undo();
    expect(s.backend.mode.state).toBe('up');
    const afterUndo = seen.length;
    await sleep(periodMs);
    expect(seen.length).toBe(afterUndo);
    expect((await get(s.backend, '/after')).status).toBe(200);
  });

  it('health mode: health answers 503 and 200 in turn while the app serves; aborting the run stops it with health up', async () => {
    const periodMs = 1200;
    const downMs = 900;
    const s = await site();
    const run = new AbortController();
    runs.push(run);
    const seen = observe(s.backend, async () => `${(await get(s.backend, '/health')).status} ${(await get(s.backend, '/app')).status}`);
    await apply(flapFault, s, { periodMs, downMs, mode: 'health' }, { seed: SEED, signal: run.signal });
    await transitions(s.backend, seen, 3);
    expect(seen.slice(0, 3).map((o) => o.mode.healthy)).toEqual([false, true, false]);
    expect(await Promise.all(seen.slice(0, 3).map((o) => o.probe))).toEqual(['503 200', '200 200', '503 200']);

    const abortedAt = performance.now();
    run.abort();
    await transitions(s.backend, seen, 4);
    expect(seen[3]!.mode.healthy).toBe(true);
    // Well before this down phase would have ended on its own.
    expect(seen[3]!.atMs - abortedAt).toBeLessThan(downMs / 2);
    await sleep(periodMs);
    expect(seen.length).toBe(4);
    expect(s.backend.mode.state).toBe('up');
  });
});
