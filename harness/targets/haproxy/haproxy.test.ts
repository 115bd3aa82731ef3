import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { childFdLimit } from '../../process/fd-limit.ts';
import { prepareTarget } from '../../runner/prepare-target.ts';
import { CertificateAuthority } from '../../tls/certificate-authority.ts';
import { haproxyTarget } from './haproxy.ts';
import { eventually, get } from '../live-proxy-kit.ts';

const TREE = fileURLToPath(new URL('../../../fixtures/trees/haproxy-split/', import.meta.url));

/*
 * HAProxy as lbdrill starts it (prepareTarget, then the adapter's own validate and spawn): a config
 * in several -f files, named as a comma list or as a directory, with a production maxconn.
 */
describe('HAProxy 2.6 on a config in several -f files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbdrill-haproxy-split-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function serve(configFile: string, name: string): Promise<{ backendsSeen: string[]; extraMains: string[]; limits: string[] }> {
    const ca = await CertificateAuthority.create();
    const prepared = await prepareTarget({ kind: haproxyTarget, version: '2.6', spec: { name: 'haproxy', configFile }, configFile, runDir: join(dir, name), index: 0, ca });
    const servers: Server[] = [];
    const seen: string[] = [];
    for (const b of prepared.backends) {
      const server = createServer((req, res) => {
        seen.push(b.upstream.name);
        res.end(b.upstream.name);
      });
      await new Promise<void>((resolve) => server.listen(b.port, b.host, resolve));
      servers.push(server);
    }
    const proxy = haproxyTarget.spawn(prepared.target);
    try {
      const endpoint = prepared.endpoints[0]!;
      for (let i = 0; i < 4; i++) await eventually(async () => expect((await get(endpoint.port, '/', false, 'localhost')).status).toBe(200));
      return { backendsSeen: [...new Set(seen)].sort(), extraMains: prepared.target.rendered.extraMains ?? [], limits: prepared.mapped.filter((m) => m.kind === 'limit').map((m) => m.to) };
    } finally {
      expect(proxy.running, `haproxy exited early: ${proxy.tail().join('\n')}`).toBe(true);
      await proxy.stop();
      for (const s of servers) await new Promise((r) => s.close(r));
    }
  }

  it('a comma list is read in order, like repeated -f', async () => {
    const run = await serve(`${join(TREE, '00-debian.cfg')},${join(TREE, '20-api.cfg')}`, 'list');
    expect(run.extraMains).toEqual(['20-api.cfg']);
    expect(run.backendsSeen).toEqual(['api1', 'api2']);
  });

  it('a directory is its *.cfg files in lexical order; maxconn 100000 starts, lowered only as far as this machine needs', async () => {
    const run = await serve(TREE, 'dir');
    expect(run.extraMains).toEqual(['10-tuning.cfg', '20-api.cfg']);
    expect(run.backendsSeen).toEqual(['api1', 'api2']);
    // This machine's hard limit (20000 where this was written: maxconn 9500); a larger one keeps 100000.
    const limit = childFdLimit() as number;
    const most = Math.floor((limit - 1000) / 2);
    expect(run.limits).toEqual(most >= 100_000 ? [] : [`maxconn ${most} (2 files per connection + 1000 must fit the ${limit} open files HAProxy may have here)`]);
  });
});
