import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BasicAuth } from './basic-auth.ts';
import { startLoadBalancer } from './start-load-balancer.ts';
import { openWs, sendRequest, startTestUpstream, startWsUpstream, testConfig, type TestUpstream } from './test-upstream.ts';

/* Seed 003: path_beg routing, HTTP basic auth, and a user -> backend map (vip reaches "deluxe"). */

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'reference-lb-auth-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

describe('BasicAuth', () => {
  const auth = new BasicAuth(
    { realm: 'mycredentials' },
    {
      users: { vip: 'plain:ipaygoodmoneyforthis', john: '$apr1$abc$5THPDfFgiK937RV3Pdoby0', ann: '{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM=' },
      groups: { staff: ['john', 'ann'], vip: ['vip', 'ann'] },
    },
  );
  const check = (value: string | undefined) => auth.authenticate(value === undefined ? [] : ['Authorization', value]);

  it('accepts the right password of each hash kind and gives the user with their groups in config order', () => {
    expect(check(basic('vip', 'ipaygoodmoneyforthis'))).toEqual({ name: 'vip', groups: ['vip'] });
    expect(check(basic('john', 'ipaygoodmoneyforthis'))).toEqual({ name: 'john', groups: ['staff'] });
    expect(check(basic('ann', 'pw'))).toEqual({ name: 'ann', groups: ['staff', 'vip'] });
    // The scheme is case-insensitive; a password may contain colons; the cache answers the same.
    expect(check(`bAsIc ${Buffer.from('ann:pw').toString('base64')}`)?.name).toBe('ann');
    expect(check(basic('ann', 'pw'))?.name).toBe('ann');
    expect(new BasicAuth({ realm: 'r' }, { users: { u: 'plain:a:b' }, groups: {} }).authenticate(['authorization', basic('u', 'a:b')])?.name).toBe('u');
  });

  it('refuses missing, malformed and wrong credentials', () => {
    for (const value of [undefined, '', 'Bearer abc', 'Basic', 'Basic !!!', `Basic ${Buffer.from('nocolon').toString('base64')}`, basic('john', 'wrong'), basic('nobody', 'pw'), basic('', 'pw')]) {
      expect([value, check(value)]).toEqual([value, undefined]);
    }
    expect(auth.challenge).toBe('Basic realm="mycredentials"');
  });
});

describe('auth on a route (real sockets)', () => {
  async function upstream(): Promise<TestUpstream> {
    const u = await startTestUpstream();
    cleanups.push(() => u.close());
    return u;
  }

  async function seed003(auth: Record<string, unknown>, mapEntries: Record<string, string>, key: 'auth_user' | 'auth_group') {
    const [deluxe, dflt, app3] = [await upstream(), await upstream(), await upstream()];
    const mapFile = path.join(dir, `deluxe-${key}.map`);
    writeFileSync(mapFile, Object.entries(mapEntries).map(([k, v]) => `${k} ${v}\n`).join(''));
    const lb = await startLoadBalancer(
      testConfig({
        upstreams: { deluxe: { servers: [{ address: deluxe.address }] }, default: { servers: [{ address: dflt.address }] }, app3: { servers: [{ address: app3.address }] } },
        maps: { deluxe_map: { file: mapFile, default: 'default' } },
        listeners: [
          {
            name: 'http-in',
            bind: '127.0.0.1:0',
            routes: [
              { match: { prefix: '/app3' }, proxy: { upstream: 'app3' } },
              { match: { prefix: '/' }, auth: { realm: 'mycredentials', ...auth }, proxy: { map: { name: 'deluxe_map', key } } },
            ],
          },
        ],
      }),
    );
    cleanups.push(() => lb.close());
    return { port: lb.listeners[0]!.port, deluxe, dflt, app3 };
  }

  it('answers 401 with the realm and never reaches an upstream without the right credentials; vip reaches deluxe', async () => {
    const { port, deluxe, dflt, app3 } = await seed003({ users: { vip: 'plain:ipaygoodmoneyforthis', john: 'plain:somePassword' } }, { vip: 'deluxe' }, 'auth_user');
    for (const authorization of [undefined, basic('vip', 'wrong'), basic('eve', 'ipaygoodmoneyforthis'), 'Basic %%%']) {
      const res = await sendRequest(port, '/x', { headers: authorization === undefined ? {} : { Authorization: authorization } });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Basic realm="mycredentials"');
    }
    // A POST with a body is refused too (its body is never read, the connection closes after the 401).
    const post = await sendRequest(port, '/x', { method: 'POST', body: 'x'.repeat(100_000) });
    expect(post.status).toBe(401);
    expect(deluxe.requests.length + dflt.requests.length).toBe(0);

    expect((await sendRequest(port, '/x', { headers: { Authorization: basic('vip', 'ipaygoodmoneyforthis') } })).body).toBe(`${deluxe.port} GET /x`);
    expect((await sendRequest(port, '/x', { headers: { Authorization: basic('john', 'somePassword') } })).body).toBe(`${dflt.port} GET /x`);
    // The path_beg route before it needs no credentials.
    expect((await sendRequest(port, '/app3/y')).body).toBe(`${app3.port} GET /app3/y`);
    // The Authorization header is forwarded as received (nginx and HAProxy do the same).
    expect(deluxe.requests[0]!.rawHeaders).toContain(basic('vip', 'ipaygoodmoneyforthis'));
  });

  it('reads an htpasswd file ($apr1$ and {SHA}) and maps by group: vip members reach deluxe', async () => {
    const htpasswd = path.join(dir, 'htpasswd');
    writeFileSync(htpasswd, '# htpasswd -m / -s\nalice:$apr1$xxxxxxxx$chY.w2eF7dPHX8QwFFjk3/\nbob:{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM=\n');
    const { port, deluxe, dflt } = await seed003({ users_file: htpasswd, users: { carol: 'plain:pw' }, groups: { vip: ['alice', 'carol'], staff: ['bob'] } }, { vip: 'deluxe' }, 'auth_group');
    expect((await sendRequest(port, '/x', { headers: { Authorization: basic('alice', 'pw') } })).body).toBe(`${deluxe.port} GET /x`);
    expect((await sendRequest(port, '/x', { headers: { Authorization: basic('carol', 'pw') } })).body).toBe(`${deluxe.port} GET /x`);
    expect((await sendRequest(port, '/x', { headers: { Authorization: basic('bob', 'pw') } })).body).toBe(`${dflt.port} GET /x`);
    expect((await sendRequest(port, '/x', { headers: { Authorization: basic('alice', 'PW') } })).status).toBe(401);
  });

  it('refuses a WebSocket upgrade without credentials with 401, and tunnels one with them', async () => {
    const ws = await startWsUpstream();
    cleanups.push(() => ws.close());
    const lb = await startLoadBalancer(
      testConfig({
        upstreams: { ws: { servers: [{ address: ws.address }] } },
        listeners: [{ name: 'web', bind: '127.0.0.1:0', routes: [{ match: { prefix: '/ws/' }, auth: { realm: 'ws', users: { u: 'plain:p' } }, proxy: { upstream: 'ws' } }] }],
      }),
    );
    cleanups.push(() => lb.close());
    const url = `ws://127.0.0.1:${lb.listeners[0]!.port}/ws/x`;
    await expect(openWs(url)).rejects.toMatchObject({ status: 401, headers: { 'www-authenticate': 'Basic realm="ws"' } });
    expect(ws.upgrades).toHaveLength(0);
    const open = await openWs(url, { headers: { Authorization: basic('u', 'p') } });
    expect(open.hello.port).toBe(ws.port);
    open.ws.close();
    await open.closed;
  });
});
