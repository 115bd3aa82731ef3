import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LbEvent, MapUpdateEvent } from './events.ts';
import { startLoadBalancer, type StartedLoadBalancer } from './start-load-balancer.ts';
import { adminRequest, EventLog, sendRequest, startTestUpstream, testConfig, type TestUpstream } from './test-upstream.ts';

/* Seed 002: an HAProxy gateway routing by X-Node-Name through a map reloaded at runtime. */

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

const TOKEN = 'map-test-token-1';
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'reference-lb-maps-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Gateway {
  lb: StartedLoadBalancer;
  port: number;
  admin: number;
  log: EventLog<LbEvent>;
  masters: TestUpstream[];
  mapFile: string;
}

/** Three masters, a map file node -> master, master1 the default; `/plain/` uses an inline map without a default. */
async function gateway(): Promise<Gateway> {
  const masters: TestUpstream[] = [];
  for (let i = 0; i < 3; i++) {
    const u = await startTestUpstream();
    cleanups.push(() => u.close());
    masters.push(u);
  }
  const mapFile = path.join(dir, `node-master-${Math.random().toString(36).slice(2)}.map`);
  writeFileSync(mapFile, '# written by the map updater\nnode1.example.com master1\nnode2.example.com master2\nnode3.example.com master3\n');
  const log = new EventLog<LbEvent>();
  const lb = await startLoadBalancer(
    testConfig({
      upstreams: Object.fromEntries(masters.map((m, i) => [`master${i + 1}`, { keepalive: 8, servers: [{ address: m.address }] }])),
      maps: {
        node_map: { file: mapFile, default: 'master1' },
        tenants: { entries: { acme: 'master3' } },
      },
      listeners: [
        {
          name: 'gateway',
          bind: '127.0.0.1:0',
          routes: [
            { match: { prefix: '/plain/' }, proxy: { map: { name: 'tenants', key: 'path_segment:2' } } },
            { match: { prefix: '/by-cookie/' }, proxy: { map: { name: 'tenants', key: 'cookie:tenant' } } },
            { match: { prefix: '/' }, proxy: { map: { name: 'node_map', key: 'header:X-Node-Name' } } },
          ],
        },
      ],
      admin: { bind: '127.0.0.1:0', token: TOKEN },
    }),
    { onEvent: log.push },
  );
  cleanups.push(() => lb.close());
  return { lb, port: lb.listeners[0]!.port, admin: lb.admin!.port, log, masters, mapFile };
}

/** Which master (1-based) answered a request for `node`. */
async function masterFor(g: Gateway, node: string | undefined, agent?: http.Agent): Promise<number> {
  const res = await sendRequest(g.port, '/', { headers: node === undefined ? {} : { 'X-Node-Name': node }, agent });
  expect(res.status).toBe(200);
  return g.masters.findIndex((m) => res.body.startsWith(`${m.port} `)) + 1;
}

function admin(g: Gateway, method: string, p: string, body?: unknown) {
  return adminRequest(g.admin, method, p, { token: TOKEN, body });
}

function mapEvents(log: EventLog<LbEvent>): MapUpdateEvent[] {
  return log.all.filter((e): e is MapUpdateEvent => e.event === 'map-update');
}

describe('maps', () => {
  it('routes by the X-Node-Name header through the map file, unknown and missing keys to the default', async () => {
    const g = await gateway();
    expect(await masterFor(g, 'node1.example.com')).toBe(1);
    expect(await masterFor(g, 'node2.example.com')).toBe(2);
    expect(await masterFor(g, 'node3.example.com')).toBe(3);
    expect(await masterFor(g, 'node4.example.com')).toBe(1);
    expect(await masterFor(g, undefined)).toBe(1);
    // Keys are exact and case-sensitive, as HAProxy's map().
    expect(await masterFor(g, 'NODE2.example.com')).toBe(1);
  });

  it('without a default, a key not in the map gets 503 and reaches no upstream; path segment and cookie keys', async () => {
    const g = await gateway();
    expect((await sendRequest(g.port, '/plain/acme/x')).body).toBe(`${g.masters[2]!.port} GET /plain/acme/x`);
    expect((await sendRequest(g.port, '/by-cookie/x', { headers: { Cookie: 'a=b; tenant=acme' } })).body).toBe(`${g.masters[2]!.port} GET /by-cookie/x`);
    for (const [p, headers] of [
      ['/plain/globex/x', {}],
      ['/plain/', {}],
      ['/by-cookie/x', { Cookie: 'tenant=globex' }],
      ['/by-cookie/x', {}],
    ] as const) {
      expect([p, (await sendRequest(g.port, p, { headers })).status]).toEqual([p, 503]);
    }
    expect(g.masters[0]!.requests.length + g.masters[1]!.requests.length).toBe(0);
  });

  it('admin API: read, set, delete and replace entries; each change applies to the very next request and is one event', async () => {
    const g = await gateway();
    const view = await admin(g, 'GET', '/v1/maps/node_map');
    expect(view).toMatchObject({
      status: 200,
      json: {
        name: 'node_map',
        file: g.mapFile,
        default: 'master1',
        version: 0,
        entries: { 'node1.example.com': 'master1', 'node2.example.com': 'master2', 'node3.example.com': 'master3' },
      },
    });
    expect((await admin(g, 'GET', '/v1/maps')).json).toEqual({
      maps: [
        { name: 'node_map', file: g.mapFile, default: 'master1', version: 0, size: 3 },
        { name: 'tenants', file: null, default: null, version: 0, size: 1 },
      ],
    });

    // node1 moves to master2 (the puppet agent ran against another master).
    const moved = await admin(g, 'PUT', '/v1/maps/node_map/entries/node1.example.com', { value: 'master2' });
    expect(moved.status).toBe(200);
    expect(moved.json).toEqual({ event: 'map-update', map: 'node_map', op: 'set', key: 'node1.example.com', value: 'master2', entries: 3, version: 1, atMs: expect.any(Number) });
    expect(await masterFor(g, 'node1.example.com')).toBe(2);
    expect((await admin(g, 'PUT', '/v1/maps/node_map/entries/node9.example.com', { value: 'master3' })).status).toBe(200);
    expect(await masterFor(g, 'node9.example.com')).toBe(3);

    const deleted = await admin(g, 'DELETE', '/v1/maps/node_map/entries/node9.example.com');
    expect(deleted.json).toMatchObject({ op: 'delete', key: 'node9.example.com', entries: 3, version: 3 });
    expect(await masterFor(g, 'node9.example.com')).toBe(1);

    // Atomic replace (HAProxy prepare map / commit map): all entries at once.
    const replaced = await admin(g, 'PUT', '/v1/maps/node_map', { entries: { 'node1.example.com': 'master3', 'node5.example.com': 'master2' } });
    expect(replaced.json).toMatchObject({ op: 'replace', entries: 2, version: 4 });
    expect([await masterFor(g, 'node1.example.com'), await masterFor(g, 'node2.example.com'), await masterFor(g, 'node5.example.com')]).toEqual([3, 1, 2]);

    expect(mapEvents(g.log).map((e) => [e.op, e.version])).toEqual([
      ['set', 1],
      ['set', 2],
      ['delete', 3],
      ['replace', 4],
    ]);
  });

  it('admin API: refuses unknown upstreams (changing nothing), unknown maps and keys, bad bodies and methods', async () => {
    const g = await gateway();
    const cases: Array<[string, string, unknown, number, string]> = [
      ['PUT', '/v1/maps/node_map/entries/node1.example.com', { value: 'master9' }, 400, 'unknown upstream "master9" (defined: master1, master2, master3)'],
      ['PUT', '/v1/maps/node_map', { entries: { a: 'master2', b: 'nope' } }, 400, 'unknown upstream "nope"'],
      ['PUT', '/v1/maps/node_map/entries/x', { value: 'master2', extra: 1 }, 400, ''],
      ['PUT', '/v1/maps/node_map/entries/x', 'not json', 400, 'body is not JSON'],
      ['GET', '/v1/maps/nope', undefined, 404, 'unknown map "nope"'],
      ['PUT', '/v1/maps/nope/entries/x', { value: 'master2' }, 404, 'unknown map "nope"'],
      ['DELETE', '/v1/maps/node_map/entries/absent', undefined, 404, 'map "node_map" has no key "absent"'],
      ['POST', '/v1/maps/node_map/entries/x', { value: 'master2' }, 405, ''],
      ['DELETE', '/v1/maps/node_map', undefined, 405, ''],
      ['POST', '/v1/maps/tenants/reload', undefined, 400, 'has no file to reload'],
      ['GET', '/v1/maps/node_map/other', undefined, 404, ''],
    ];
    for (const [method, p, body, status, message] of cases) {
      const res = await admin(g, method, p, body);
      expect([method, p, res.status]).toEqual([method, p, status]);
      expect(res.json.error.message).toContain(message);
    }
    expect((await admin(g, 'GET', '/v1/maps/node_map')).json).toMatchObject({ version: 0, entries: { 'node1.example.com': 'master1' } });
    expect(mapEvents(g.log)).toEqual([]);
  });

  it('reloads the map file on request (the map updater rewrote it), and refuses a broken file without changing the map', async () => {
    const g = await gateway();
    writeFileSync(g.mapFile, 'node1.example.com master3\nnode2.example.com master3\n');
    // The file alone changes nothing: like HAProxy, the map changes when told to.
    expect(await masterFor(g, 'node1.example.com')).toBe(1);
    const reloaded = await admin(g, 'POST', '/v1/maps/node_map/reload');
    expect(reloaded.json).toMatchObject({ event: 'map-update', map: 'node_map', op: 'reload', entries: 2, version: 1 });
    expect([await masterFor(g, 'node1.example.com'), await masterFor(g, 'node3.example.com')]).toEqual([3, 1]);
    writeFileSync(g.mapFile, 'node1.example.com master7\n');
    const broken = await admin(g, 'POST', '/v1/maps/node_map/reload');
    expect(broken.status).toBe(400);
    expect(broken.json.error.message).toContain('unknown upstream "master7"');
    writeFileSync(g.mapFile, 'node1.example.com\n');
    expect((await admin(g, 'POST', '/v1/maps/node_map/reload')).json.error.message).toContain('line 1: expected "<key> <value>"');
    expect(await masterFor(g, 'node1.example.com')).toBe(3);
  });

  it('drops no request while entries change under steady keep-alive load, and streams map-update events', async () => {
    const g = await gateway();
    const lines: MapUpdateEvent[] = [];
    const stream = http.get({ host: '127.0.0.1', port: g.admin, path: '/v1/events', headers: { Authorization: `Bearer ${TOKEN}` }, agent: false }, (res) => {
      res.on('error', () => undefined);
      const rl = createInterface({ input: res });
      rl.on('error', () => undefined);
      rl.on('line', (line) => lines.push(JSON.parse(line) as MapUpdateEvent));
    });
    stream.on('error', () => undefined);
    cleanups.push(async () => void stream.destroy());
    await new Promise<void>((resolve) => stream.once('response', () => resolve()));

    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    cleanups.push(async () => agent.destroy());
    let stop = false;
    const seen: number[] = [];
    const clients = Array.from({ length: 8 }, async () => {
      while (!stop) seen.push(await masterFor(g, 'node2.example.com', agent));
    });
    const UPDATES = 40;
    for (let i = 0; i < UPDATES; i++) {
      const value = `master${(i % 3) + 1}`;
      expect((await admin(g, 'PUT', '/v1/maps/node_map/entries/node2.example.com', { value })).status).toBe(200);
      // The very next request sees the change.
      expect(await masterFor(g, 'node2.example.com', agent)).toBe((i % 3) + 1);
    }
    stop = true;
    await Promise.all(clients);
    expect(seen.length).toBeGreaterThan(UPDATES);
    expect(seen.every((m) => m >= 1 && m <= 3)).toBe(true);
    await g.log.waitFor((e) => e.event === 'map-update' && e.version === UPDATES);
    while (lines.length < UPDATES) await new Promise((resolve) => setImmediate(resolve));
    expect(lines.map((e) => e.version)).toEqual(Array.from({ length: UPDATES }, (_, i) => i + 1));
    expect(lines[0]).toMatchObject({ event: 'map-update', map: 'node_map', op: 'set', key: 'node2.example.com', value: 'master1' });
  });
});
