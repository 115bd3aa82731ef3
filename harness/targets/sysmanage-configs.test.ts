import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConfig, send, startBackend, type Backend, type ProxyName, type Reply } from './live-proxy-kit.ts';

/*
 * The bundled configs of the sysmanage profile (seed 004, the published files corrected): each
 * one run under the real proxy against one test backend per server, proving the /api/ weights
 * (3:3:2, backup idle) under concurrent load, /ws/ stickiness by client address, /health answered
 * by the proxy itself, the security headers, and the per-address rate limit (nginx, HAProxy).
 */

const DIR = fileURLToPath(new URL('../../fixtures/configs/sysmanage/', import.meta.url));
const FILES: Record<ProxyName, string> = { haproxy: 'haproxy.cfg', nginx: 'nginx.conf', apache: 'apache.conf' };
const API = ['10.0.1.10:8000', '10.0.1.11:8000', '10.0.1.12:8000'];
const BACKUP = '10.0.1.13:8000';
const WEIGHTS = [3, 3, 2];
/** The HAProxy-only pools (web, static), kept as published. */
const OTHERS = ['10.0.1.20:3000', '10.0.1.21:3000', '10.0.1.22:3000', '10.0.1.30:80', '10.0.1.31:80'];
/** Requests for the weight check, sent WORKERS at a time; /api/ answers take API_DELAY_MS so least-connections has connections to compare. */
const SAMPLE = 400;
const WORKERS = 16;
const API_DELAY_MS = 20;
/** Each server's share of the sample may differ from its weight's share by this much (absolute). */
const SHARE_TOLERANCE = 0.08;
const RATE_BURST = 30;
const SECURITY_HEADERS = {
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'x-xss-protection': '1; mode=block',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
};

let dir: string;
const backends = new Map<string, Backend>();
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lbdrill-sysmanage-'));
  chmodSync(dir, 0o755);
  for (const [i, address] of [...API, BACKUP, ...OTHERS].entries()) backends.set(address, await startBackend(`127.0.52.${i + 1}`, { delayMs: API_DELAY_MS, delayPrefix: '/api/' }));
});
afterAll(async () => {
  for (const b of backends.values()) await new Promise((r) => b.server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

function clearBackends(): void {
  for (const b of backends.values()) b.paths.length = 0;
}

/** A distinct source address per request index, so no per-address limit applies (127.53.x.y). */
const source = (i: number): string => `127.53.${Math.floor(i / 250)}.${(i % 250) + 1}`;

function serverOf(reply: Reply): string {
  const address = [...backends].find(([, b]) => reply.body === `backend ${b.address.split(':')[0]}`)?.[0];
  if (address === undefined) throw new Error(`unexpected reply ${reply.status}: ${reply.body}`);
  return address;
}

/** /api/ under concurrent load from distinct addresses splits about 3:3:2 and never reaches the backup. */
async function expectWeights(port: number, options: { shares: boolean } = { shares: true }): Promise<void> {
  const counts = new Map<string, number>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < SAMPLE) {
      const i = next++;
      const reply = await send(port, `/api/v1/hosts?i=${i}`, { localAddress: source(i) });
      expect(reply.status, reply.body).toBe(200);
      const server = serverOf(reply);
      counts.set(server, (counts.get(server) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
  const total = WEIGHTS.reduce((a, b) => a + b, 0);
  const evidence = API.map((a) => `${a}=${counts.get(a) ?? 0}`).join(' ');
  for (const [i, address] of API.entries()) {
    if (options.shares) expect(Math.abs((counts.get(address) ?? 0) / SAMPLE - (WEIGHTS[i] as number) / total), evidence).toBeLessThanOrEqual(SHARE_TOLERANCE);
    else expect(counts.get(address) ?? 0, evidence).toBeGreaterThan(0);
  }
  expect(counts.get(BACKUP) ?? 0, evidence).toBe(0);
}

/** /health comes from the proxy: 200 "healthy", and no backend saw this request. */
async function expectHealth(port: number): Promise<void> {
  const reply = await send(port, '/health?probe=lbdrill', { localAddress: '127.54.0.1' });
  expect(reply.status).toBe(200);
  expect(reply.body.trim()).toBe('healthy');
  for (const b of backends.values()) expect(b.paths).not.toContain('/health?probe=lbdrill');
}

async function expectSecurityHeaders(port: number): Promise<void> {
  const reply = await send(port, '/api/v1/status', { localAddress: '127.54.0.2' });
  expect(reply.status).toBe(200);
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(reply.headers[name], name).toBe(value);
}

/** Six requests from one address to /ws/ land on one websocket server (not the backup). */
async function expectWsSticky(port: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) seen.add(serverOf(await send(port, `/ws/agent?i=${i}`, { localAddress: '127.55.0.9' })));
  for (const s of seen) expect(API).toContain(s);
  return seen;
}

/** RATE_BURST quick requests from one address: some refused with the limit's status, none above it served by a backend. */
async function expectRateLimit(port: number, status: number): Promise<void> {
  const replies = await Promise.all(Array.from({ length: RATE_BURST }, (_, i) => send(port, `/api/v1/hosts?burst=${i}`, { localAddress: '127.56.0.1' })));
  const refused = replies.filter((r) => r.status === status).length;
  expect(refused, replies.map((r) => r.status).join(',')).toBeGreaterThan(0);
  expect(replies.every((r) => r.status === 200 || r.status === status)).toBe(true);
}

const backendMap = (): Map<string, string> => new Map([...backends].map(([a, b]) => [a, b.address]));

describe('sysmanage haproxy.cfg under HAProxy 2.6', () => {
  it('weights 3:3:2 by least connections, sticky /ws/, /health from HAProxy, security headers, 429 past 20 requests in 10 s', async () => {
    clearBackends();
    const run = await runConfig('haproxy', join(DIR, FILES.haproxy), join(dir, 'haproxy'), backendMap());
    try {
      await expectWeights(run.port);
      await expectHealth(run.port);
      await expectSecurityHeaders(run.port);
      expect((await expectWsSticky(run.port)).size).toBe(1);
      await expectRateLimit(run.port, 429);
    } finally {
      await run.stop();
    }
  });
});

describe('sysmanage nginx.conf under nginx 1.22', () => {
  it('weights 3:3:2 by least connections, ip_hash on /ws/, /health from nginx, security headers, 503 past 10 r/s burst 20', async () => {
    clearBackends();
    const run = await runConfig('nginx', join(DIR, FILES.nginx), join(dir, 'nginx'), backendMap());
    try {
      await expectWeights(run.port);
      await expectHealth(run.port);
      await expectSecurityHeaders(run.port);
      expect((await expectWsSticky(run.port)).size).toBe(1);
      await expectRateLimit(run.port, 503);
    } finally {
      await run.stop();
    }
  });
});

describe('sysmanage apache.conf under Apache 2.4', () => {
  // bybusyness does not hold loadfactor 3:3:2 under concurrency (shares of about a third each
  // were measured; balance.weights judges that and fails on Apache): here only the spread.
  it('spreads over the three primaries by busyness, never the backup; /health from Apache, security headers; no rate limit to prove', async () => {
    clearBackends();
    const run = await runConfig('apache', join(DIR, FILES.apache), join(dir, 'apache'), backendMap());
    try {
      await expectWeights(run.port, { shares: false });
      await expectHealth(run.port);
      await expectSecurityHeaders(run.port);
      // No client-address stickiness in mod_proxy_balancer: only that /ws/ reaches the websocket pool.
      await expectWsSticky(run.port);
    } finally {
      await run.stop();
    }
  });
});
