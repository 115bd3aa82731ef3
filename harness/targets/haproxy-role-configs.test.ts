import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CHECKS } from '../checks/registry.ts';
import { loadProfile } from '../profiles/profile.ts';
import { apacheDialect } from './apache/apache-config.ts';
import type { ConfigAnalysis, ConfigDialect, PoolHealth, RenderedConfig } from './config-plan.ts';
import { haproxyDialect } from './haproxy/haproxy-config.ts';
import { eventually, freePort, get, makeCertificate, runtimeCommand, startBackend, startProxy, type Backend } from './live-proxy-kit.ts';
import { nginxDialect, nginxGlobalDirectives, nginxTempDirs } from './nginx/nginx-config.ts';
import { referenceDialect } from './reference/reference-config.ts';

/*
 * The bundled configs of the haproxy-role profile (seed 001): each one read, rendered at
 * time scale 0.1 and run under the real proxy against one test backend per server, proving
 * the routing contract and that the health checks run at the scaled cadence.
 */

const DIR = fileURLToPath(new URL('../../fixtures/configs/haproxy-role/', import.meta.url));
const TIME_SCALE = 0.1;
/** 5 s checks at scale 0.1. */
const SCALED_INTERVAL_MS = 500;
/** Checks wanted on every server before the cadence is judged. */
const CHECKS_WANTED = 4;
/** Gap between two checks of one server: 500 ms plus scheduling slack (HAProxy's and Apache's watchdog tick is 100 ms), far under the unscaled 5 s. */
const MAX_CHECK_GAP_MS = 1200;
const MIN_CHECK_GAP_MS = 250;

/** Each server of the topology gets its own loopback address, so a reply names the server it came from. */
const SERVERS: Record<string, string> = {
  '10.0.0.11:8080': '127.0.30.11',
  '10.0.0.12:8080': '127.0.30.12',
  '10.0.0.21:8082': '127.0.30.21',
  '10.0.0.22:8082': '127.0.30.22',
};
const API = ['10.0.0.11:8080', '10.0.0.12:8080'];
const STREAM = ['10.0.0.21:8082', '10.0.0.22:8082'];

const TIMINGS = { intervalMs: 5000, fall: 3, rise: 2 };

/** CI installs every proxy: a missing one fails its tests with the reason instead of skipping them. */
function requireBinary(binary: string): () => void {
  return () => {
    if (spawnSync(binary, ['-v']).status !== 0) throw new Error(`${binary} is not installed here (apt-get install ${binary})`);
  };
}

let dir: string;
const backends = new Map<string, Backend>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lbdrill-haproxy-role-'));
  chmodSync(dir, 0o755);
  for (const [address, host] of Object.entries(SERVERS)) backends.set(address, await startBackend(host));
});
afterAll(async () => {
  for (const b of backends.values()) await new Promise((r) => b.server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

function backend(address: string): Backend {
  return backends.get(address) as Backend;
}

function clearBackends(): void {
  for (const b of backends.values()) {
    b.paths.length = 0;
    b.requests.length = 0;
  }
}

interface Rendered {
  analysis: ConfigAnalysis;
  rendered: RenderedConfig;
  runDir: string;
  port: number;
}

async function renderBundled(file: string, dialect: ConfigDialect, runtimeSocket?: string): Promise<Rendered> {
  const runDir = join(dir, file.replace(/\W/g, '_'));
  mkdirSync(runDir, { recursive: true });
  chmodSync(runDir, 0o755);
  const source = readFileSync(join(DIR, file), 'utf8');
  const analysis = dialect.analyze(source, file);
  expect(analysis.listeners.map((l) => l.port)).toEqual([80]);
  const port = await freePort();
  const rendered = dialect.render(source, file, analysis, {
    runDir,
    upstreams: new Map(analysis.upstreams.map((u) => [u.address, backend(u.address).address])),
    ports: new Map([[80, port]]),
    tls: makeCertificate(runDir),
    timeScale: TIME_SCALE,
    ...(runtimeSocket === undefined ? {} : { runtimeSocket }),
  });
  for (const [name, text] of Object.entries(rendered.files)) writeFileSync(join(runDir, name), text);
  return { analysis, rendered, runDir, port };
}

/** Which topology server answered: the backend replies "backend <its loopback host>". */
async function servedBy(port: number, path: string): Promise<string> {
  const reply = await get(port, path, false, 'veza.example.com');
  expect(reply.status).toBe(200);
  const address = Object.entries(SERVERS).find(([, host]) => reply.body === `backend ${host}`)?.[0];
  if (address === undefined) throw new Error(`unexpected reply to ${path}: ${reply.body}`);
  return address;
}

/** `/` goes round robin over the two api servers, `/stream/...` to the stream pool. */
async function expectRouting(port: number, stickyStream: boolean): Promise<void> {
  const api = [];
  for (let i = 0; i < 6; i++) api.push(await servedBy(port, i % 2 === 0 ? '/' : `/api/v1/tracks?page=${i}`));
  expect(new Set(api)).toEqual(new Set(API));
  const streams = [];
  for (let i = 0; i < 4; i++) streams.push(await servedBy(port, '/stream/track-42/segment-1.ts'));
  for (const s of streams) expect(STREAM).toContain(s);
  if (stickyStream) expect(new Set(streams).size).toBe(1);
  expect(API.flatMap((a) => backend(a).paths)).not.toContain('/stream/track-42/segment-1.ts');
}

/** Every server gets GET checks on its pool's health path, about every 500 ms: the 5 s interval, scaled. */
async function expectScaledChecks(): Promise<void> {
  const pools: Array<[string[], string]> = [
    [API, '/api/v1/health'],
    [STREAM, '/health'],
  ];
  const checks = (address: string, path: string) => backend(address).requests.filter((r) => r.path === path);
  await eventually(async () => {
    for (const [addresses, path] of pools) {
      for (const a of addresses) if (checks(a, path).length < CHECKS_WANTED) throw new Error(`${a}: ${checks(a, path).length} checks on ${path}`);
    }
  }, CHECKS_WANTED * MAX_CHECK_GAP_MS + 2000);
  for (const [addresses, path] of pools) {
    const other = path === '/health' ? '/api/v1/health' : '/health';
    for (const a of addresses) {
      const seen = checks(a, path);
      expect(seen.every((r) => r.method === 'GET')).toBe(true);
      expect(backend(a).paths).not.toContain(other);
      const gaps = seen.slice(1, CHECKS_WANTED).map((r, i) => r.atMs - (seen[i] as { atMs: number }).atMs);
      for (const gap of gaps) {
        expect(gap, `${a} check gaps ${gaps.join(', ')} ms`).toBeGreaterThanOrEqual(MIN_CHECK_GAP_MS);
        expect(gap, `${a} check gaps ${gaps.join(', ')} ms`).toBeLessThanOrEqual(MAX_CHECK_GAP_MS);
      }
    }
  }
}

function timingMappings(rendered: RenderedConfig): string[] {
  return rendered.mapped.filter((m) => m.kind === 'timing').map((m) => `${m.from} -> ${m.to} @${m.line}`);
}

const API_SLOW: Omit<PoolHealth, 'pool' | 'active'> = { slowstartMs: 30_000, shutdownSessions: true, redispatch: true };

describe('haproxy-role bundled configs: what each dialect reads', () => {
  it('seed 001 has no backup server: no bundled config declares one, and the profile demands none', () => {
    const dialects: Array<[string, ConfigDialect]> = [
      ['haproxy.cfg', haproxyDialect],
      ['nginx.conf', nginxDialect],
      ['apache.conf', apacheDialect],
      ['reference.yaml', referenceDialect],
    ];
    for (const [file, dialect] of dialects) {
      const analysis = dialect.analyze(readFileSync(join(DIR, file), 'utf8'), file);
      expect(analysis.upstreams.filter((u) => u.backup).map((u) => `${file}: ${u.name}`)).toEqual([]);
    }
    // a config faithful to the seed cannot pass a check that needs a backup server
    const needingBackup = loadProfile('haproxy-role').checks.filter((c) => CHECKS.get(c.id)?.needs.includes('backup-servers'));
    expect(needingBackup.map((c) => c.id)).toEqual([]);
  });

  it('haproxy.cfg: active checks on both pools, 30 s slow start, sessions cut on mark-down, redispatch', () => {
    const analysis = haproxyDialect.analyze(readFileSync(join(DIR, 'haproxy.cfg'), 'utf8'), 'haproxy.cfg');
    expect(analysis.pools).toEqual([
      // observe layer7 error-limit 10: passive ejection on live errors, over the check interval
      {
        pool: 'api_pool',
        active: { method: 'GET', path: '/api/v1/health', expectStatus: { min: 200, max: 200 }, ...TIMINGS, at: { text: 'option httpchk GET /api/v1/health', line: 40 } },
        passive: { maxFails: 10, failTimeoutMs: 5000 },
        ...API_SLOW,
        cookie: { name: 'VEZA_SERVERID', mode: 'insert', indirect: true, at: { text: 'cookie VEZA_SERVERID insert indirect nocache', line: 43 } },
        tunnelTimeoutMs: 3_600_000,
      },
      {
        pool: 'stream_pool',
        active: { method: 'GET', path: '/health', expectStatus: { min: 200, max: 200 }, ...TIMINGS, at: { text: 'option httpchk GET /health', line: 53 } },
        ...API_SLOW,
        tunnelTimeoutMs: 3_600_000,
      },
    ]);
    expect(analysis.upstreams.map((u) => `${u.pool}/${u.name} ${u.address}${u.backup ? ' backup' : ''}${u.cookieValue !== undefined ? ` cookie ${u.cookieValue}` : ''}`)).toEqual([
      'api_pool/backend-api-1 10.0.0.11:8080 cookie api1',
      'api_pool/backend-api-2 10.0.0.12:8080 cookie api2',
      'stream_pool/stream-srv-1 10.0.0.21:8082',
      'stream_pool/stream-srv-2 10.0.0.22:8082',
    ]);
  });

  it('nginx.conf: passive ejection only (3 failures, 10 s) and redispatch via proxy_next_upstream', () => {
    const analysis = nginxDialect.analyze(readFileSync(join(DIR, 'nginx.conf'), 'utf8'), 'nginx.conf');
    expect(analysis.pools).toEqual([
      { pool: 'api_pool', passive: { maxFails: 3, failTimeoutMs: 10_000 }, redispatch: true, tunnelTimeoutMs: 60_000 },
      { pool: 'stream_pool', passive: { maxFails: 3, failTimeoutMs: 10_000 }, redispatch: true, tunnelTimeoutMs: 60_000 },
    ]);
  });

  it('apache.conf: mod_proxy_hcheck on both balancers, members sit out 10 s after a failure, failover on', () => {
    const analysis = apacheDialect.analyze(readFileSync(join(DIR, 'apache.conf'), 'utf8'), 'apache.conf');
    const passive = { maxFails: 1, failTimeoutMs: 10_000 };
    expect(analysis.pools).toEqual([
      {
        pool: 'api_pool',
        active: { method: 'GET', path: '/api/v1/health', ...TIMINGS, at: { text: 'BalancerMember "http://10.0.0.11:8080" hcmethod=GET hcuri=/api/v1/health hcinterval=5 hcfails=3 hcpasses=2 retry=10', line: 22 } },
        passive,
        redispatch: true,
        // ProxyTimeout 60 under Debian's Timeout 300: the larger holds for a tunnel
        tunnelTimeoutMs: 300_000,
      },
      {
        pool: 'stream_pool',
        active: { method: 'GET', path: '/health', ...TIMINGS, at: { text: 'BalancerMember "http://10.0.0.21:8082" hcmethod=GET hcuri=/health hcinterval=5 hcfails=3 hcpasses=2 retry=10', line: 28 } },
        passive,
        redispatch: true,
        tunnelTimeoutMs: 300_000,
      },
    ]);
  });
});

describe('haproxy-role haproxy.cfg under HAProxy 2.6, time scale 0.1', () => {
  beforeEach(requireBinary('haproxy'));
  it('routes /stream/ by URI hash and the rest round robin, checks /api/v1/health every 500 ms, and answers on the admin socket', async () => {
    clearBackends();
    const socket = join(dir, 'haproxy-admin.sock');
    const { rendered, runDir, port } = await renderBundled('haproxy.cfg', haproxyDialect, socket);
    expect(timingMappings(rendered)).toEqual([
      'inter 5s -> inter 500ms @45',
      'slowstart 30s -> slowstart 3s @45',
      'inter 5s -> inter 500ms @55',
      'slowstart 30s -> slowstart 3s @55',
    ]);
    expect(rendered.mapped.filter((m) => m.kind === 'runtime-api')).toEqual([
      { kind: 'runtime-api', from: 'stats socket /run/haproxy/admin.sock mode 660 level admin', to: `stats socket ${socket} mode 660 level admin`, line: 12 },
    ]);
    const checked = spawnSync('haproxy', ['-c', '-f', join(runDir, 'haproxy.cfg')], { encoding: 'utf8' });
    expect(checked.stdout + checked.stderr).toContain('Configuration file is valid');

    const proxy = await startProxy('haproxy', ['-f', join(runDir, 'haproxy.cfg'), '-db'], port);
    try {
      await expectRouting(port, true);
      await expectScaledChecks();
      const state = await runtimeCommand(socket, 'show servers state api_pool');
      for (const name of ['backend-api-1', 'backend-api-2']) expect(state).toMatch(new RegExp(`^\\d+ api_pool \\d+ ${name} \\S+ 2 `, 'm'));
    } finally {
      await proxy.stop();
    }
  });
});

describe('haproxy-role nginx.conf under nginx 1.22, time scale 0.1', () => {
  beforeEach(requireBinary('nginx'));
  it('routes /stream/ by URI hash and the rest round robin, and sends no health checks (OSS nginx is passive only)', async () => {
    clearBackends();
    const { analysis, rendered, runDir, port } = await renderBundled('nginx.conf', nginxDialect);
    expect(timingMappings(rendered)).toEqual(
      [14, 15, 24, 25].map((line) => `fail_timeout=10s -> fail_timeout=1s (nginx's 1 s clock does not scale: up to +900 ms) @${line}`),
    );
    for (const d of nginxTempDirs(runDir)) mkdirSync(d, { recursive: true });
    const args = ['-p', runDir, '-c', join(runDir, rendered.main), '-g', nginxGlobalDirectives(analysis, runDir)];
    const checked = spawnSync('nginx', ['-t', ...args], { encoding: 'utf8' });
    expect(checked.stdout + checked.stderr).toContain('test is successful');

    const proxy = await startProxy('nginx', args, port);
    try {
      await expectRouting(port, true);
      // Two scaled check intervals: an active checker would have probed every server by now.
      await new Promise((r) => setTimeout(r, 2 * SCALED_INTERVAL_MS));
      for (const b of backends.values()) expect(b.paths.filter((p) => p.endsWith('health'))).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });
});

describe('haproxy-role apache.conf under Apache 2.4, time scale 0.1', () => {
  beforeEach(requireBinary('apache2'));
  it('routes /stream/ and the rest by request count, and checks /api/v1/health every 500 ms', async () => {
    clearBackends();
    const { rendered, runDir, port } = await renderBundled('apache.conf', apacheDialect);
    expect(timingMappings(rendered)).toEqual(
      [22, 23, 28, 29].flatMap((line) => [`hcinterval=5 -> hcinterval=500ms @${line}`, `retry=10 -> retry=1 @${line}`]),
    );
    // No APACHE_* environment: the generated Defines must be enough.
    const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
    const args = ['-d', '/etc/apache2', '-f', join(runDir, rendered.main)];
    const checked = spawnSync('apache2', ['-t', ...args], { encoding: 'utf8', env });
    expect(checked.stdout + checked.stderr).toContain('Syntax OK');

    const proxy = await startProxy('apache2', [...args, '-DFOREGROUND'], port, env);
    try {
      await expectRouting(port, false);
      await expectScaledChecks();
    } finally {
      await proxy.stop();
    }
    expect(readFileSync(join(runDir, 'veza-access.log'), 'utf8')).toContain('GET /stream/track-42/segment-1.ts');
  });
});
