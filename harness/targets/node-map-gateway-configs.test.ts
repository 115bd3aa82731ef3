import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeMapEntry } from '../runtime/map-file.ts';
import { reloadNginx } from './nginx/nginx-reload.ts';
import { companionCopy } from './config-text.ts';
import { DIALECTS, runConfig, runtimeCommand, send, startBackend, type Backend, type ProxyName } from './live-proxy-kit.ts';

/*
 * The bundled configs of the node-map-gateway profile (seed 002): each one rendered with its
 * node map copied into the run dir and run under the real proxy against one test backend per
 * Puppet master, proving the header -> map -> master routing, the default master, failover to
 * the other master, a map change the way each one takes it (HAProxy `set map` on the runtime API,
 * nginx a rewritten include and a graceful reload, Apache a rewritten RewriteMap file) and the
 * full-queue spill.
 */

const DIR = fileURLToPath(new URL('../../fixtures/configs/node-map-gateway/', import.meta.url));
const FILES: Record<ProxyName, string> = { haproxy: 'haproxy.cfg', nginx: 'nginx.conf', apache: 'apache.conf' };
const MASTERS: Record<string, string> = { '10.0.0.41:3001': '127.0.50.41', '10.0.0.42:3002': '127.0.50.42' };
/** Requests to /slow/ are held this long, so a test can keep a master's connections busy. */
const SLOW_MS = 1500;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lbdrill-node-map-'));
  // Apache reads the copied map in its workers, which run as www-data.
  chmodSync(dir, 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function startMasters(): Promise<Map<string, Backend>> {
  const started = new Map<string, Backend>();
  for (const [address, host] of Object.entries(MASTERS)) started.set(address, await startBackend(host, { delayMs: SLOW_MS, delayPrefix: '/slow/' }));
  return started;
}

async function stopMasters(masters: Map<string, Backend>): Promise<void> {
  for (const b of masters.values()) {
    b.server.closeAllConnections();
    await new Promise((r) => b.server.close(r));
  }
}

/** Which master served a request for this node ("master1" / "master2"). */
async function masterFor(port: number, node: string | null, path = '/puppet/v3/catalog/x'): Promise<string> {
  const reply = await send(port, path, { headers: node === null ? {} : { 'X-Node-Name': node } });
  expect(reply.status, reply.body).toBe(200);
  if (reply.body === `backend ${MASTERS['10.0.0.41:3001']}`) return 'master1';
  if (reply.body === `backend ${MASTERS['10.0.0.42:3002']}`) return 'master2';
  throw new Error(`unexpected reply: ${reply.body}`);
}

async function expectMapRouting(port: number): Promise<void> {
  expect(await masterFor(port, 'node-a.example.com')).toBe('master1');
  expect(await masterFor(port, 'node-b.example.com')).toBe('master2');
  expect(await masterFor(port, 'NODE-B.Example.com')).toBe('master2');
  expect(await masterFor(port, 'node-c.example.com')).toBe('master1');
  expect(await masterFor(port, 'unknown.example.com')).toBe('master1');
  expect(await masterFor(port, null)).toBe('master1');
}

/** master2 gone: its nodes are served by master1. */
async function expectFailover(port: number, masters: Map<string, Backend>): Promise<void> {
  const master2 = masters.get('10.0.0.42:3002') as Backend;
  master2.server.closeAllConnections();
  await new Promise((r) => master2.server.close(r));
  for (let i = 0; i < 3; i++) expect(await masterFor(port, 'node-b.example.com')).toBe('master1');
}

describe('node-map-gateway bundled configs: what each dialect reads', () => {
  it('each config names its node map, found next to it', () => {
    const seen = (proxy: ProxyName) => {
      const file = join(DIR, FILES[proxy]);
      return (DIALECTS[proxy].analyze(readFileSync(file, 'utf8'), file).files ?? []).map((f) => `${f.kind} ${f.path} @${f.line} <- ${f.foundAt.slice(DIR.length)}`);
    };
    expect(seen('haproxy')).toEqual(['map /etc/haproxy/maps/nodes.map @33 <- nodes.map']);
    expect(seen('nginx')).toEqual(['include /etc/nginx/nodes-nginx.map @24 <- nodes-nginx.map']);
    expect(seen('apache')).toEqual(['map /etc/apache2/nodes.map @33 <- nodes.map']);
  });
});

describe('node-map-gateway haproxy.cfg under HAProxy 2.6', () => {
  it('routes by the node map, follows `set map` on the copy without a reload, spills a full queue and a dead master to the other', async () => {
    const masters = await startMasters();
    const socket = join(dir, 'haproxy.sock');
    const run = await runConfig('haproxy', join(DIR, FILES.haproxy), join(dir, 'haproxy'), new Map([...masters].map(([a, b]) => [a, b.address])), { runtimeSocket: socket });
    try {
      const copy = companionCopy(run.rendered.mapped, '/etc/haproxy/maps/nodes.map');
      expect(copy).toBe(join(run.runDir, 'files/nodes.map'));
      await expectMapRouting(run.port);

      expect(await runtimeCommand(socket, `set map ${copy} node-c.example.com master2`)).toBe('\n');
      expect(await masterFor(run.port, 'node-c.example.com')).toBe('master2');
      expect(await runtimeCommand(socket, `show map ${copy}`)).toMatch(/ node-c\.example\.com master2\n/);

      // master1 serves 4 and queues 4; the 9th request for one of its nodes goes to master2.
      const held = Array.from({ length: 8 }, () => masterFor(run.port, 'node-a.example.com', '/slow/held'));
      await new Promise((r) => setTimeout(r, 300));
      expect(await masterFor(run.port, 'node-a.example.com', '/slow/spill')).toBe('master2');
      expect(await Promise.all(held)).toEqual(Array(8).fill('master1'));

      await expectFailover(run.port, masters);
    } finally {
      await run.stop();
      await stopMasters(masters);
    }
  });
});

describe('node-map-gateway nginx.conf under nginx 1.22', () => {
  it('routes by the included node map, follows a rewrite of the copy after a graceful reload, and a full or dead master hands over to its backup', async () => {
    const masters = await startMasters();
    const run = await runConfig('nginx', join(DIR, FILES.nginx), join(dir, 'nginx'), new Map([...masters].map(([a, b]) => [a, b.address])));
    try {
      await expectMapRouting(run.port);

      const copy = companionCopy(run.rendered.mapped, '/etc/nginx/nodes-nginx.map');
      expect(copy).toBe(join(run.runDir, 'files/nodes-nginx.map'));
      await writeMapEntry(copy!, 'node-c.example.com', 'master2', 'nginx');
      // nginx read the map at start: the rewrite alone changes nothing
      expect(await masterFor(run.port, 'node-c.example.com')).toBe('master1');
      const master = { pid: Number(readFileSync(join(run.runDir, 'nginx.pid'), 'utf8')), running: true };
      const reload = await reloadNginx(master, join(run.runDir, 'error.log'));
      expect(reload.newWorkers.length).toBeGreaterThan(0);
      expect(await masterFor(run.port, 'node-c.example.com')).toBe('master2');
      expect(await masterFor(run.port, 'node-a.example.com')).toBe('master1');
      // max_conns=4 on master1: a 5th request at once goes to the backup, master2 (no queue in OSS).
      const held = Array.from({ length: 4 }, () => masterFor(run.port, 'node-a.example.com', '/slow/held'));
      await new Promise((r) => setTimeout(r, 300));
      expect(await masterFor(run.port, 'node-a.example.com', '/slow/spill')).toBe('master2');
      expect(await Promise.all(held)).toEqual(Array(4).fill('master1'));
      await expectFailover(run.port, masters);
    } finally {
      await run.stop();
      await stopMasters(masters);
    }
  });
});

describe('node-map-gateway apache.conf under Apache 2.4', () => {
  it('routes by the RewriteMap, follows a rewrite of the copy without a reload, and a dead master hands over to its hot standby', async () => {
    const masters = await startMasters();
    const run = await runConfig('apache', join(DIR, FILES.apache), join(dir, 'apache'), new Map([...masters].map(([a, b]) => [a, b.address])));
    try {
      await expectMapRouting(run.port);

      const copy = companionCopy(run.rendered.mapped, '/etc/apache2/nodes.map');
      expect(copy).toBe(join(run.runDir, 'files/nodes.map'));
      // mod_rewrite stats the file on every lookup: the next request of every child sees it
      await writeMapEntry(copy!, 'node-c.example.com', 'master2', 'plain');
      for (let i = 0; i < 5; i++) expect(await masterFor(run.port, 'node-c.example.com')).toBe('master2');
      await writeMapEntry(copy!, 'node-c.example.com', 'master1', 'plain');
      for (let i = 0; i < 5; i++) expect(await masterFor(run.port, 'node-c.example.com')).toBe('master1');
      await expectFailover(run.port, masters);
    } finally {
      await run.stop();
      await stopMasters(masters);
    }
  });
});
