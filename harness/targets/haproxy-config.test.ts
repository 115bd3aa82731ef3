import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLbdrillError } from '../errors.ts';
import type { ConfigAnalysis, RenderPlan } from './config-plan.ts';
import { changedLines, eventually, freePort, get, makeCertificate, startBackend, startProxy, type Backend } from './live-proxy-kit.ts';
import { haproxyDialect } from './haproxy-config.ts';

const SYSMANAGE = '/work/shared/real-configs/sysmanage/haproxy.cfg';

function plan(analysis: ConfigAnalysis, runDir = '/run/lbdrill/t2'): RenderPlan {
  const addresses = [...new Set(analysis.upstreams.map((u) => u.address))];
  return {
    runDir,
    upstreams: new Map(addresses.map((a, i) => [a, `127.0.11.${i + 1}:${43000 + i}`])),
    ports: new Map([...new Set(analysis.listeners.map((l) => l.port))].map((p, i) => [p, 44000 + i])),
    tls: { certFile: `${runDir}/server.crt`, keyFile: `${runDir}/server.key`, pemFile: `${runDir}/server.pem` },
  };
}


function renderText(source: string): { text: string; mapped: ReturnType<typeof haproxyDialect.render>['mapped'] } {
  const analysis = haproxyDialect.analyze(source, 'haproxy.cfg');
  const rendered = haproxyDialect.render(source, 'haproxy.cfg', analysis, plan(analysis));
  return { text: rendered.files['haproxy.cfg'] as string, mapped: rendered.mapped };
}

const GLOBAL = [
  'global',
  '    log /dev/log\tlocal0',
  '    log /dev/log format rfc5424 local1 notice',
  '    log 127.0.0.1:514 local2',
  '    chroot /var/lib/haproxy',
  '    stats socket /run/haproxy/admin.sock mode 660 level admin expose-fd listeners',
  '    pidfile /run/haproxy.pid',
  '    user haproxy',
  '    daemon',
  'defaults',
  '    mode http',
  '    timeout connect 5s',
  '    timeout client 50s',
  '    timeout server 50s',
].join('\n');

describe('haproxyDialect.analyze', () => {
  it('reads the published sysmanage haproxy.cfg: four backends, backups, three binds', () => {
    const analysis = haproxyDialect.analyze(readFileSync(SYSMANAGE, 'utf8'), SYSMANAGE);
    expect(analysis.fragment).toBe(false);
    expect(analysis.upstreams.map((u) => `${u.pool}/${u.name} ${u.address}${u.backup ? ' backup' : ''} @${u.line}`)).toEqual([
      'sysmanage_api/app1 10.0.1.10:8000 @63',
      'sysmanage_api/app2 10.0.1.11:8000 @64',
      'sysmanage_api/app3 10.0.1.12:8000 @65',
      'sysmanage_api/app4 10.0.1.13:8000 backup @66',
      'sysmanage_websocket/app1 10.0.1.10:8000 @76',
      'sysmanage_websocket/app2 10.0.1.11:8000 @77',
      'sysmanage_websocket/app3 10.0.1.12:8000 @78',
      'sysmanage_web/web1 10.0.1.20:3000 @85',
      'sysmanage_web/web2 10.0.1.21:3000 @86',
      'sysmanage_web/web3 10.0.1.22:3000 backup @87',
      'sysmanage_static/static1 10.0.1.30:80 @91',
      'sysmanage_static/static2 10.0.1.31:80 @92',
    ]);
    expect(analysis.listeners).toEqual([
      { spec: '*:80', port: 80, tls: false, serverNames: [], line: 34 },
      { spec: '*:443', port: 443, tls: true, serverNames: [], line: 35 },
      { spec: '*:8404', port: 8404, tls: false, serverNames: [], line: 98 },
    ]);
  });

  it('normalises server addresses and ignores servers outside backend/listen', () => {
    const source = [
      GLOBAL,
      'peers mypeers',
      '    peer lb1 10.9.0.1:10000',
      'resolvers dns',
      '    nameserver ns1 10.9.0.53:53',
      'listen both',
      '    bind 0.0.0.0:8080',
      '    default-server check inter 2s',
      '    server a ipv4@10.0.0.1:81',
      '    server b 10.0.0.2 ssl verify none # no port: 443 with ssl',
      '    server c api.internal:8080 backup',
      '    server d 10.0.0.4',
      '    server-template web 1-3 10.0.0.9:90 check',
    ].join('\n');
    const analysis = haproxyDialect.analyze(source, 'haproxy.cfg');
    expect(analysis.upstreams.map((u) => [u.pool, u.name, u.address, u.backup])).toEqual([
      ['both', 'a', '10.0.0.1:81', false],
      ['both', 'b', '10.0.0.2:443', false],
      ['both', 'c', 'api.internal:8080', true],
      ['both', 'd', '10.0.0.4:80', false],
      ['both', 'web', '10.0.0.9:90', false],
    ]);
    expect(analysis.listeners.map((l) => l.spec)).toEqual(['0.0.0.0:8080']);
  });

  it('drops an IPv6 bind whose port the section binds over IPv4, keeps a lone one', () => {
    const source = [GLOBAL, 'frontend fe', '    bind :80', '    bind :::80 v4v6', '    bind ipv6@:::8443 ssl crt /etc/x.pem', '    default_backend be', 'backend be', '    server s 10.0.0.1:80'].join('\n');
    const analysis = haproxyDialect.analyze(source, 'haproxy.cfg');
    expect(analysis.listeners.map((l) => [l.spec, l.port, l.tls])).toEqual([
      [':80', 80, false],
      ['ipv6@:::8443', 8443, true],
    ]);
  });

  it('succeeds with no servers, and reports unreadable lines as file:line', () => {
    expect(haproxyDialect.analyze(`${GLOBAL}\nfrontend fe\n    bind :80\n    http-request return status 200\n`, 'h.cfg').upstreams).toEqual([]);
    const fails = (source: string): string => {
      try {
        haproxyDialect.analyze(source, 'h.cfg');
      } catch (err) {
        expect(isLbdrillError(err, 'LBDRILL_ERR_CONFIG_PARSE')).toBe(true);
        return (err as Error).message;
      }
      throw new Error('expected a parse error');
    };
    expect(fails('frontend fe\n    bind :80\n    http-response set-header X "open\n')).toBe('h.cfg:3: unmatched quote');
    expect(fails('frontend fe\n    bind "${HOST}:${PORT}"\n')).toMatch(/^h\.cfg:2: bind address .* environment variable/);
    expect(fails('frontend fe\n    bind :8000-8010\n')).toMatch(/^h\.cfg:2: bind port "8000-8010" cannot be mapped/);
    expect(fails('backend be\n    server s1\n')).toMatch(/^h\.cfg:2: 'server' expects a name and an address/);
  });
});

describe('haproxyDialect.render', () => {
  it('changes only the mapped spans of sysmanage haproxy.cfg', () => {
    const source = readFileSync(SYSMANAGE, 'utf8');
    const { text, mapped } = renderText(source);
    expect(changedLines(source, text)).toEqual([2, 5, 34, 35, 63, 64, 65, 66, 76, 77, 78, 85, 86, 87, 91, 92, 98]);
    const lines = text.split('\n');
    expect(lines[1]).toBe('# lbdrill dropped: daemon');
    expect(lines[4]).toBe('pidfile /run/lbdrill/t2/haproxy.pid');
    expect(lines[33]).toBe('bind 127.0.0.1:44000');
    expect(lines[34]).toBe('bind 127.0.0.1:44001 ssl crt /run/lbdrill/t2/server.pem');
    expect(lines[62]).toBe('server app1 127.0.11.1:43000 check inter 5s fall 3 rise 2 weight 100');
    expect(lines[75]).toBe('server app1 127.0.11.1:43000 check inter 10s fall 2 rise 1');
    expect(lines[97]).toBe('bind 127.0.0.1:44002');
    expect(mapped.filter((m) => m.kind === 'upstream')).toHaveLength(12);
  });

  it('moves logs, sockets and pid under the run dir, comments out chroot and daemon', () => {
    const { text, mapped } = renderText(GLOBAL);
    expect(text.split('\n').slice(0, 10)).toEqual([
      'global',
      '    log stdout format raw\tlocal0',
      '    log stdout format rfc5424 local1 notice',
      '    log 127.0.0.1:514 local2',
      '    # lbdrill dropped: chroot /var/lib/haproxy',
      '    stats socket /run/lbdrill/t2/haproxy.sock mode 660 level admin expose-fd listeners',
      '    pidfile /run/lbdrill/t2/haproxy.pid',
      '    user haproxy',
      '    # lbdrill dropped: daemon',
      'defaults',
    ]);
    expect(mapped.map((m) => m.kind)).toEqual(['path', 'path', 'dropped', 'path', 'path', 'dropped']);
  });

  it('maps binds to loopback with their TLS material, dropping what cannot exist', () => {
    const source = [
      GLOBAL,
      'frontend fe',
      '    bind :80,:::80 v4v6 interface eth0',
      '    bind :::80',
      '    bind [::]:443 v6only ssl crt-list /etc/haproxy/certs.lst ca-file /etc/ssl/ca.pem verify optional crl-file /etc/ssl/crl.pem alpn h2,http/1.1',
      '    bind unix@/run/haproxy/fe.sock',
      '    default_backend be',
      'backend be',
      '    server s1 10.0.0.1:8443 ssl verify required ca-file /etc/ssl/ca.pem crt /etc/ssl/client.pem',
    ].join('\n');
    const { text } = renderText(source);
    expect(text.split('\n').slice(15)).toEqual([
      '    bind 127.0.0.1:44000',
      '    # lbdrill dropped: bind :::80',
      '    bind 127.0.0.1:44001 ssl crt /run/lbdrill/t2/server.pem ca-file /run/lbdrill/t2/server.crt verify optional alpn h2,http/1.1',
      '    bind /run/lbdrill/t2/fe.sock',
      '    default_backend be',
      'backend be',
      '    server s1 127.0.11.1:43000 ssl verify required ca-file /run/lbdrill/t2/server.crt crt /run/lbdrill/t2/server.pem',
    ]);
  });
});

// ---- the published file under the real HAProxy ----

const HAVE_HAPROXY = spawnSync('haproxy', ['-v']).status === 0;


describe.skipIf(!HAVE_HAPROXY)('the published sysmanage haproxy.cfg under HAProxy 2.6', () => {
  let dir: string;
  const backends: Backend[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lbdrill-haproxy-'));
    chmodSync(dir, 0o755);
    backends.push(await startBackend('127.0.0.1'), await startBackend('127.0.0.1'));
  });
  afterAll(async () => {
    for (const b of backends) await new Promise((r) => b.server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  async function renderInto(source: string, runDir: string): Promise<Map<number, number>> {
    mkdirSync(runDir, { recursive: true });
    chmodSync(runDir, 0o755);
    const analysis = haproxyDialect.analyze(source, SYSMANAGE);
    const ports = new Map<number, number>();
    for (const l of analysis.listeners) if (!ports.has(l.port)) ports.set(l.port, await freePort());
    const addresses = [...new Set(analysis.upstreams.map((u) => u.address))];
    const rendered = haproxyDialect.render(source, SYSMANAGE, analysis, {
      runDir,
      upstreams: new Map(addresses.map((a, i) => [a, (backends[i % backends.length] as Backend).address])),
      ports,
      tls: makeCertificate(runDir),
    });
    writeFileSync(join(runDir, rendered.main), rendered.files[rendered.main] as string);
    return ports;
  }

  function check(runDir: string): { status: number | null; output: string } {
    const r = spawnSync('haproxy', ['-c', '-f', join(runDir, 'haproxy.cfg')], { encoding: 'utf8' });
    return { status: r.status, output: r.stdout + r.stderr };
  }

  it("as published: HAProxy rejects the user's own line 48 (hdr_val() compares numbers, not 'websocket')", async () => {
    const runDir = join(dir, 'published');
    await renderInto(readFileSync(SYSMANAGE, 'utf8'), runDir);
    const checked = check(runDir);
    expect(checked.status).not.toBe(0);
    expect(checked.output).toMatch(/haproxy\.cfg:48\] : error detected while parsing ACL 'is_websocket' : 'websocket' is not a number/);
    expect(readFileSync(SYSMANAGE, 'utf8').split('\n')[47]).toBe('acl is_websocket hdr_val(upgrade) -i websocket');
  });

  it("with line 48 corrected: OpenSSL knows no cipher in the user's line 7 (GCM-SHA512 suites do not exist)", async () => {
    const runDir = join(dir, 'acl-corrected');
    await renderInto(readFileSync(SYSMANAGE, 'utf8').replace('hdr_val(upgrade)', 'hdr(upgrade)'), runDir);
    const checked = check(runDir);
    expect(checked.status).not.toBe(0);
    expect(checked.output).toMatch(/unable to set SSL cipher list to 'ECDHE-RSA-AES256-GCM-SHA512:DHE-RSA-AES256-GCM-SHA512' for bind '127\.0\.0\.1:\d+' at \[\S+haproxy\.cfg:35\]/);
    expect(readFileSync(SYSMANAGE, 'utf8').split('\n')[6]).toBe('ssl-default-bind-ciphers ECDHE-RSA-AES256-GCM-SHA512:DHE-RSA-AES256-GCM-SHA512');
  });

  it('with both published defects corrected: haproxy -c accepts it, and it serves TLS and redirects plain HTTP', async () => {
    const runDir = join(dir, 'corrected');
    const source = readFileSync(SYSMANAGE, 'utf8').replace('hdr_val(upgrade)', 'hdr(upgrade)').replaceAll('GCM-SHA512', 'GCM-SHA384');
    const ports = await renderInto(source, runDir);
    const checked = check(runDir);
    expect(checked.output).toContain('Configuration file is valid');
    expect(checked.status).toBe(0);

    const tlsPort = ports.get(443) as number;
    const proxy = await startProxy('haproxy', ['-f', join(runDir, 'haproxy.cfg'), '-db'], tlsPort);
    try {
      const reply = await eventually(async () => {
        const r = await get(tlsPort, '/index.html', true, 'sysmanage.example.com');
        if (r.status !== 200) throw new Error(`status ${r.status}`);
        return r;
      });
      expect(reply.body).toMatch(/^backend /);
      expect(reply.headers['x-frame-options']).toBe('DENY');
      expect(backends.flatMap((b) => b.paths)).toContain('/index.html');
      const redirect = await get(ports.get(80) as number, '/x', false, 'sysmanage.example.com');
      expect(redirect.status).toBe(302);
      expect(redirect.headers.location).toBe('https://sysmanage.example.com/x');
    } finally {
      await proxy.stop();
    }
  });
});
