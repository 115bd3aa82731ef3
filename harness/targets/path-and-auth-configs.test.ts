import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, runConfig, send, startBackend, type Backend, type ProxyName } from './live-proxy-kit.ts';

/*
 * The bundled configs of the path-and-auth profile (seed 003): each one rendered with its
 * password file and user map copied into the run dir and run under the real proxy, proving
 * the path routes (two ports of one host), the 401 for no or wrong credentials with no
 * backend reached, and vip -> deluxe, john -> default.
 */

const DIR = fileURLToPath(new URL('../../fixtures/configs/path-and-auth/', import.meta.url));
const FILES: Record<ProxyName, string> = { haproxy: 'haproxy.cfg', nginx: 'nginx.conf', apache: 'apache.conf' };
const SERVERS: Record<string, string> = {
  '10.0.0.2:8080': '127.0.51.2',
  '10.0.0.2:8081': '127.0.51.22',
  '10.0.0.3:8000': '127.0.51.3',
  '10.0.0.1:8000': '127.0.51.1',
};
const NAMES: Record<string, string> = { '10.0.0.2:8080': 'app3', '10.0.0.2:8081': 'app4', '10.0.0.3:8000': 'deluxe', '10.0.0.1:8000': 'default' };

const basic = (user: string, password: string): Record<string, string> => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
const VIP = basic('vip', 'ipaygoodmoneyforthis');
const JOHN = basic('john', 'somePassword');

let dir: string;
const backends = new Map<string, Backend>();
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lbdrill-path-auth-'));
  // The proxies' workers (www-data) read the copied password files.
  chmodSync(dir, 0o755);
  for (const [address, host] of Object.entries(SERVERS)) backends.set(address, await startBackend(host));
});
afterAll(async () => {
  for (const b of backends.values()) await new Promise((r) => b.server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

function served(): number {
  return [...backends.values()].reduce((n, b) => n + b.paths.length, 0);
}

async function servedBy(port: number, path: string, headers: Record<string, string> = {}): Promise<string> {
  const reply = await send(port, path, { headers });
  expect(reply.status, `${path}: ${reply.body}`).toBe(200);
  const address = Object.entries(SERVERS).find(([, host]) => reply.body === `backend ${host}`)?.[0];
  if (address === undefined) throw new Error(`unexpected reply to ${path}: ${reply.body}`);
  return NAMES[address] as string;
}

async function expectContract(port: number): Promise<void> {
  expect(await servedBy(port, '/app3/orders')).toBe('app3');
  expect(await servedBy(port, '/app4/orders?page=2')).toBe('app4');
  expect(backends.get('10.0.0.2:8080')?.paths).toContain('/app3/orders');
  expect(backends.get('10.0.0.2:8081')?.paths).toContain('/app4/orders?page=2');

  const before = served();
  for (const headers of [{}, basic('vip', 'wrong'), basic('mallory', 'ipaygoodmoneyforthis'), { Authorization: 'Bearer x' }]) {
    const reply = await send(port, '/account', { headers });
    expect(reply.status).toBe(401);
    expect(String(reply.headers['www-authenticate'])).toMatch(/^Basic realm="deluxe"/);
  }
  expect(served()).toBe(before);

  expect(await servedBy(port, '/account', VIP)).toBe('deluxe');
  expect(await servedBy(port, '/', VIP)).toBe('deluxe');
  expect(await servedBy(port, '/account', JOHN)).toBe('default');
}

describe('path-and-auth bundled configs: what each dialect reads', () => {
  const seen = (proxy: ProxyName): string[] => {
    const file = join(DIR, FILES[proxy]);
    return (DIALECTS[proxy].analyze(readFileSync(file, 'utf8'), file).files ?? []).map((f) => `${f.kind} ${f.path} <- ${f.foundAt.slice(DIR.length)}`);
  };
  it('haproxy.cfg: the user map; the userlist is inline', () => {
    expect(seen('haproxy')).toEqual(['map /etc/haproxy/maps/deluxe.map <- deluxe.map']);
  });
  it('nginx.conf: the password file', () => {
    expect(seen('nginx')).toEqual(['htpasswd /etc/nginx/.htpasswd <- .htpasswd']);
  });
  it('apache.conf: password file, group file and the user map', () => {
    expect(seen('apache')).toEqual(['htpasswd /etc/apache2/.htpasswd <- .htpasswd', 'groups /etc/apache2/groups <- groups', 'map /etc/apache2/deluxe.map <- deluxe.map']);
  });
});

for (const proxy of ['haproxy', 'nginx', 'apache'] as const) {
  describe(`path-and-auth ${FILES[proxy]} under the real ${proxy}`, () => {
    it('routes /app3 and /app4 to two ports of one host, answers 401 without reaching a backend, vip -> deluxe, john -> default', async () => {
      const run = await runConfig(proxy, join(DIR, FILES[proxy]), join(dir, proxy), new Map([...backends].map(([a, b]) => [a, b.address])));
      try {
        await expectContract(run.port);
      } finally {
        await run.stop();
      }
    });
  });
}
