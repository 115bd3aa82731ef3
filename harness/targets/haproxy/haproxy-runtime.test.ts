import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareTarget } from '../../runner/prepare-target.ts';
import { nowMs } from '../../probe/probe-stream.ts';
import { haproxyTarget } from './haproxy.ts';
import { CertificateAuthority } from '../../tls/certificate-authority.ts';
import { eventually } from '../live-proxy-kit.ts';

/*
 * HAProxy's server transitions, read the way a run reads them: from the process lbdrill started,
 * whatever the config's own `log` lines say (HAProxy's examples log to a syslog address).
 */
describe('HaproxyRuntime', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbdrill-haproxy-runtime-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports a DOWN once, from stderr, for a config logging to 127.0.0.1 (content-sw-sample style)', async () => {
    const config = join(dir, 'haproxy.cfg');
    writeFileSync(
      config,
      ['global', '    log 127.0.0.1 local0', 'defaults', '    mode http', '    log global', '    timeout connect 1s', '    timeout client 5s', '    timeout server 5s',
        'frontend fe', '    bind :80', '    default_backend be', 'backend be', '    option httpchk HEAD /login.php',
        '    server dyn1 10.9.0.1:80 check inter 100', '    server dyn2 10.9.0.2:80 check inter 100', ''].join('\n'),
    );
    const ca = await CertificateAuthority.create();
    const prepared = await prepareTarget({ kind: haproxyTarget, version: '2.6', spec: { name: 'haproxy', configFile: config }, configFile: config, runDir: join(dir, 'run'), index: 5, ca });
    const servers: Server[] = [];
    for (const b of prepared.backends) {
      const server = createServer((_req, res) => res.end('ok'));
      await new Promise<void>((resolve) => server.listen(b.port, b.host, resolve));
      servers.push(server);
    }
    const proxy = haproxyTarget.spawn(prepared.target);
    const runtime = haproxyTarget.runtime!(proxy, prepared.target)!;
    try {
      // steady: both UP in HAProxy's own view (the socket exists once HAProxy has started)
      await eventually(async () => expect((await runtime.states()).map((s) => s.state)).toEqual(['up', 'up']));
      const since = nowMs();
      await new Promise((r) => servers[0]!.close(r));
      const down = await runtime.waitForState('be', 'dyn1', 'down', since, 5_000);
      expect(down, proxy.tail().join('\n')).toBeDefined();
      await new Promise((r) => setTimeout(r, 300));
      expect(runtime.events.filter((e) => e.server === 'dyn1' && e.state === 'down')).toHaveLength(1);
    } finally {
      await runtime.close();
      await proxy.stop();
      await Promise.all(servers.slice(1).map((s) => new Promise((r) => s.close(r))));
    }
  });
});
