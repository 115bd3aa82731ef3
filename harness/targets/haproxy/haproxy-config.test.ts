import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLbdrillError } from '../../errors.ts';
import type { ConfigAnalysis, ListenerRef, RenderPlan } from '../config-plan.ts';
import { changedLines, eventually, freePort, get, makeCertificate, runtimeCommand, startBackend, startProxy, type Backend } from '../live-proxy-kit.ts';
import { haproxyDialect, haproxyTimeMs } from './haproxy-config.ts';

/** Listeners without their client limits (client-limits.test.ts reads those). */
function withoutLimits(listeners: readonly ListenerRef[]): Array<Omit<ListenerRef, 'limits'>> {
  return listeners.map(({ limits, ...rest }) => rest);
}

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
    expect(analysis.upstreams.map((u) => `${u.pool}/${u.name} ${u.address}${u.backup ? ' backup' : ''}${u.weight !== undefined ? ` weight ${u.weight}` : ''} @${u.line}`)).toEqual([
      'sysmanage_api/app1 10.0.1.10:8000 weight 100 @63',
      'sysmanage_api/app2 10.0.1.11:8000 weight 100 @64',
      'sysmanage_api/app3 10.0.1.12:8000 weight 80 @65',
      'sysmanage_api/app4 10.0.1.13:8000 backup weight 80 @66',
      'sysmanage_websocket/app1 10.0.1.10:8000 @76',
      'sysmanage_websocket/app2 10.0.1.11:8000 @77',
      'sysmanage_websocket/app3 10.0.1.12:8000 @78',
      'sysmanage_web/web1 10.0.1.20:3000 @85',
      'sysmanage_web/web2 10.0.1.21:3000 @86',
      'sysmanage_web/web3 10.0.1.22:3000 backup @87',
      'sysmanage_static/static1 10.0.1.30:80 @91',
      'sysmanage_static/static2 10.0.1.31:80 @92',
    ]);
    // the frontend's use_backend and default_backend, in the order written
    const routed = ['sysmanage_websocket', 'sysmanage_api', 'sysmanage_static', 'sysmanage_health', 'sysmanage_web'];
    expect(withoutLimits(analysis.listeners)).toEqual([
      { spec: '*:80', port: 80, tls: false, serverNames: [], pools: routed, line: 34 },
      // the global ssl-default-bind-options decides the :443 bind's versions (line 8)
      { spec: '*:443', port: 443, tls: true, serverNames: [], pools: routed, line: 35, tlsProtocols: { text: 'ssl-default-bind-options no-sslv3 no-tlsv10 no-tlsv11', line: 8 } },
      { spec: '*:8404', port: 8404, tls: false, serverNames: [], pools: [], line: 98 },
    ]);
    const api = { intervalMs: 5000, fall: 3, rise: 2 };
    expect(analysis.pools).toEqual([
      { pool: 'sysmanage_api', active: { method: 'GET', path: '/api/health', ...api, at: { text: 'option httpchk GET /api/health', line: 61 } }, redispatch: true },
      {
        pool: 'sysmanage_websocket',
        active: { method: 'GET', path: '/api/health/websocket', intervalMs: 10_000, fall: 2, rise: 1, at: { text: 'option httpchk GET /api/health/websocket', line: 75 } },
        redispatch: true,
        tunnelTimeoutMs: 3_600_000,
      },
      { pool: 'sysmanage_web', active: { method: 'GET', path: '/health', ...api, at: { text: 'option httpchk GET /health', line: 84 } }, redispatch: true },
      { pool: 'sysmanage_static', active: { method: 'GET', path: '/health', intervalMs: 10_000, fall: 3, rise: 2, at: { text: 'option httpchk GET /health', line: 90 } }, redispatch: true },
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

  it('marks a server HAProxy speaks TLS to: `ssl` on its line or its default-server, not after `no-ssl`', () => {
    const source = [GLOBAL, 'backend be', '    default-server ssl verify none', '    server a 10.0.0.1:443', '    server b 10.0.0.2:80 no-ssl', 'backend plain', '    server c 10.0.0.3:80', '    server d 10.0.0.3:443 ssl verify none'].join('\n');
    expect(haproxyDialect.analyze(source, 'haproxy.cfg').upstreams.map((u) => `${u.name} ${u.tls ?? false}`)).toEqual(['a true', 'b false', 'c false', 'd true']);
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

describe('haproxyDialect: what bindings need (weights, cookies, checks as the LB sends them, TLS versions, tunnel timeouts)', () => {
  const SOURCE = [
    'global',
    '    ssl-default-bind-options no-tls-tickets',
    'defaults',
    '    mode http',
    '    cookie FROMDEFAULTS insert',
    '    timeout tunnel 30m',
    '    http-check expect status 204',
    'frontend fe',
    '    bind :443 ssl crt /etc/ssl/site.pem',
    '    bind :8443 ssl crt /etc/ssl/site.pem ssl-min-ver TLSv1.2 alpn h2,http/1.1',
    '    bind :80',
    'backend app',
    '    balance roundrobin',
    '    cookie SRV insert indirect nocache',
    '    option httpchk HEAD /login.php HTTP/1.0',
    '    http-check expect rstatus ^2',
    '    timeout tunnel 1h',
    '    server s1 10.0.0.1:8080 cookie s1 weight 3 check port 8081',
    '    server s2 10.0.0.2:8080 cookie s2 weight 1 check port 8081',
    'backend php',
    '    cookie PHPSESSID prefix',
    '    option httpchk GET /',
    '    http-check expect string OK',
    '    default-server check weight 5',
    '    server p1 10.0.0.3:80',
    '    server p2 10.0.0.4:80 weight 10',
    'backend inherited',
    '    option httpchk /status',
    '    server i1 10.0.0.5:80 check',
    'backend honoured',
    '    cookie JSESSIONID',
    '    option httpchk',
    '    http-check connect port 9000',
    '    http-check send meth GET uri /ready',
    '    http-check expect status 200-399',
    '    server h1 10.0.0.6:80 check',
    'backend tls_hello',
    '    option httpchk GET /',
    '    option ssl-hello-chk',
    '    server t1 10.0.0.7:443 check',
  ].join('\n');
  const analysis = haproxyDialect.analyze(SOURCE, 'haproxy.cfg');

  it('gives each server its weight (default-server included) and cookie value', () => {
    expect(analysis.upstreams.map((u) => [u.name, u.weight, u.cookieValue])).toEqual([
      ['s1', 3, 's1'],
      ['s2', 1, 's2'],
      ['p1', 5, undefined],
      ['p2', 10, undefined],
      ['i1', undefined, undefined],
      ['h1', undefined, undefined],
      ['t1', undefined, undefined],
    ]);
  });

  it('reads the cookie name, mode and indirect of each backend, from its own line or the defaults', () => {
    expect(analysis.pools?.map((p) => [p.pool, p.cookie])).toEqual([
      ['app', { name: 'SRV', mode: 'insert', indirect: true, at: { text: 'cookie SRV insert indirect nocache', line: 14 } }],
      ['php', { name: 'PHPSESSID', mode: 'prefix', indirect: false, at: { text: 'cookie PHPSESSID prefix', line: 21 } }],
      ['inherited', { name: 'FROMDEFAULTS', mode: 'insert', indirect: false, at: { text: 'cookie FROMDEFAULTS insert', line: 5 } }],
      // no mode: HAProxy only reads a cookie the application sets
      ['honoured', { name: 'JSESSIONID', mode: 'honour', indirect: false, at: { text: 'cookie JSESSIONID', line: 31 } }],
      ['tls_hello', { name: 'FROMDEFAULTS', mode: 'insert', indirect: false, at: { text: 'cookie FROMDEFAULTS insert', line: 5 } }],
    ]);
  });

  it('reads the check as HAProxy sends it: method, path, port, accepted statuses; an expectation other than a status is shown by at', () => {
    expect(analysis.pools?.map((p) => [p.pool, p.active])).toEqual([
      ['app', { method: 'HEAD', path: '/login.php', port: 8081, expectStatus: { min: 200, max: 299 }, intervalMs: 2000, fall: 3, rise: 2, at: { text: 'option httpchk HEAD /login.php HTTP/1.0', line: 15 } }],
      ['php', { method: 'GET', path: '/', intervalMs: 2000, fall: 3, rise: 2, at: { text: 'http-check expect string OK', line: 23 } }],
      // the defaults' `http-check expect status 204` applies to a backend with no http-check rules of its own
      ['inherited', { method: 'OPTIONS', path: '/status', expectStatus: { min: 204, max: 204 }, intervalMs: 2000, fall: 3, rise: 2, at: { text: 'option httpchk /status', line: 28 } }],
      ['honoured', { method: 'GET', path: '/ready', port: 9000, expectStatus: { min: 200, max: 399 }, intervalMs: 2000, fall: 3, rise: 2, at: { text: 'http-check send meth GET uri /ready', line: 34 } }],
      // the last check option wins: an SSL hello, no HTTP request
      ['tls_hello', { intervalMs: 2000, fall: 3, rise: 2, at: { text: 'option ssl-hello-chk', line: 39 } }],
    ]);
  });

  it('reads timeout tunnel from the backend, else the defaults', () => {
    expect(analysis.pools?.map((p) => [p.pool, p.tunnelTimeoutMs])).toEqual([
      ['app', 3_600_000],
      ['php', 1_800_000],
      ['inherited', 1_800_000],
      ['honoured', 1_800_000],
      ['tls_hello', 1_800_000],
    ]);
  });

  it("says where a TLS bind's versions come from: its own ssl-min-ver, else nothing (ssl-default-bind-options without a version keyword)", () => {
    expect(analysis.listeners.map((l) => [l.port, l.tlsProtocols])).toEqual([
      [443, undefined],
      [8443, { text: 'bind :8443 ssl crt /etc/ssl/site.pem ssl-min-ver TLSv1.2 alpn h2,http/1.1', line: 10 }],
      [80, undefined],
    ]);
    const global = SOURCE.replace('options no-tls-tickets', 'options no-sslv3 no-tlsv10 no-tlsv11');
    expect(haproxyDialect.analyze(global, 'haproxy.cfg').listeners.map((l) => [l.port, l.tlsProtocols?.line])).toEqual([
      [443, 2],
      [8443, 10],
      [80, undefined],
    ]);
  });
});

describe('haproxyDialect health and failover settings', () => {
  const SOURCE = [
    'global',
    '    stats socket /run/haproxy/admin.sock mode 660 level user',
    'defaults base',
    '    mode http',
    '    option httpchk',
    '    option redispatch',
    '    timeout check 3s',
    '    default-server inter 3s fall 5',
    'backend inherits',
    '    server a 10.0.0.1:80 check',
    '    server b 10.0.0.2:80 check rise 4',
    'backend overrides',
    '    no option redispatch',
    '    http-check send meth GET uri /healthz ver HTTP/1.1',
    '    default-server check inter 1m fastinter 500 downinter 20s',
    '    server a 10.0.0.1:80 observe layer7 error-limit 5 on-error mark-down on-marked-down shutdown-sessions slowstart 10s',
    'listen tcp_only',
    '    bind :9000',
    '    mode tcp',
    '    no option httpchk',
    '    server a 10.0.0.3:9000 check weight 10',
    'defaults',
    '    mode http',
    'backend nothing',
    '    server a 10.0.0.4:80',
    'backend from_named from base',
    '    option httpchk HEAD /ping',
    '    server a 10.0.0.5:80 check backup',
  ].join('\n');

  it('reads checks, passive observation, slow start and redispatch per backend, through defaults and default-server', () => {
    expect(haproxyDialect.analyze(SOURCE, 'haproxy.cfg').pools).toEqual([
      // bare `option httpchk` in the defaults: OPTIONS /
      { pool: 'inherits', active: { method: 'OPTIONS', path: '/', intervalMs: 3000, fall: 5, rise: 2, at: { text: 'option httpchk', line: 5 } }, redispatch: true },
      {
        pool: 'overrides',
        active: { method: 'GET', path: '/healthz', intervalMs: 60_000, fall: 5, rise: 2, at: { text: 'http-check send meth GET uri /healthz ver HTTP/1.1', line: 14 } },
        passive: { maxFails: 5, failTimeoutMs: 20_000 },
        slowstartMs: 10_000,
        shutdownSessions: true,
      },
      // `check` without httpchk: a TCP connect, no method or path
      { pool: 'tcp_only', active: { intervalMs: 3000, fall: 5, rise: 2, at: { text: 'server a 10.0.0.3:9000 check weight 10', line: 21 } }, redispatch: true },
      { pool: 'from_named', active: { method: 'HEAD', path: '/ping', intervalMs: 3000, fall: 5, rise: 2, at: { text: 'option httpchk HEAD /ping', line: 27 } }, redispatch: true },
    ]);
  });

  it('reads HAProxy time units: us, ms, s, m, h, d; a bare number is milliseconds', () => {
    expect(['100us', '250', '250ms', '5s', '2m', '1h', '1d'].map(haproxyTimeMs)).toEqual([0.1, 250, 250, 5000, 120_000, 3_600_000, 86_400_000]);
    expect(['5x', '1.5s', '', '-1'].map(haproxyTimeMs)).toEqual([null, null, null, null]);
  });

  it('leaves every duration alone without a time scale, or with 1', () => {
    const analysis = haproxyDialect.analyze(SOURCE, 'haproxy.cfg');
    for (const timeScale of [undefined, 1]) {
      const rendered = haproxyDialect.render(SOURCE, 'haproxy.cfg', analysis, { ...plan(analysis), timeScale });
      expect(rendered.mapped.filter((m) => m.kind === 'timing')).toEqual([]);
      expect(rendered.files['haproxy.cfg']).toContain('inter 1m fastinter 500 downinter 20s');
    }
  });

  it('scales inter, fastinter, downinter, slowstart and timeout check, and gives a checked server without inter the scaled 2 s default', () => {
    const analysis = haproxyDialect.analyze(SOURCE, 'haproxy.cfg');
    const rendered = haproxyDialect.render(SOURCE, 'haproxy.cfg', analysis, { ...plan(analysis), timeScale: 0.1 });
    const text = rendered.files['haproxy.cfg'] as string;
    expect(changedLines(SOURCE, text)).toEqual([2, 7, 8, 10, 11, 15, 16, 18, 21, 25, 28]);
    const lines = text.split('\n');
    expect(lines[6]).toBe('    timeout check 300ms');
    expect(lines[7]).toBe('    default-server inter 300ms fall 5');
    // "inherits" gets its inter from default-server (scaled there), so nothing is added to its servers.
    expect(lines[9]).toBe('    server a 127.0.11.1:43000 check');
    expect(lines[14]).toBe('    default-server check inter 6s fastinter 50ms downinter 2s');
    expect(lines[15]).toBe('    server a 127.0.11.1:43000 observe layer7 error-limit 5 on-error mark-down on-marked-down shutdown-sessions slowstart 1s');
    // backend "nothing" (line 25) only has its address mapped; no check, so no inter.
    expect(lines[24]).toBe('    server a 127.0.11.4:43003');
    expect(rendered.mapped.filter((m) => m.kind === 'timing')).toEqual([
      { kind: 'timing', from: 'timeout check 3s', to: 'timeout check 300ms', line: 7 },
      { kind: 'timing', from: 'inter 3s', to: 'inter 300ms', line: 8 },
      { kind: 'timing', from: 'inter 1m', to: 'inter 6s', line: 15 },
      { kind: 'timing', from: 'fastinter 500', to: 'fastinter 50ms', line: 15 },
      { kind: 'timing', from: 'downinter 20s', to: 'downinter 2s', line: 15 },
      { kind: 'timing', from: 'slowstart 10s', to: 'slowstart 1s', line: 16 },
    ]);

    const bare = ['defaults', '    mode http', 'backend be', '    server a 10.0.0.1:80 check # no inter: 2 s', '    server b 10.0.0.2:80 check inter 5 fall 2'].join('\n');
    const bareAnalysis = haproxyDialect.analyze(bare, 'haproxy.cfg');
    expect(bareAnalysis.pools).toEqual([{ pool: 'be', active: { intervalMs: 2000, fall: 3, rise: 2, at: { text: 'server a 10.0.0.1:80 check', line: 4 } } }]);
    const out = haproxyDialect.render(bare, 'haproxy.cfg', bareAnalysis, { ...plan(bareAnalysis), timeScale: 0.1 });
    expect((out.files['haproxy.cfg'] as string).split('\n').slice(3)).toEqual([
      '    server a 127.0.11.1:43000 check inter 200ms # no inter: 2 s',
      // 5 ms * 0.1 rounds to 0: HAProxy's floor is 1 ms.
      '    server b 127.0.11.2:43001 check inter 1ms fall 2',
    ]);
    expect(out.mapped.filter((m) => m.kind === 'timing').map((m) => `${m.from} -> ${m.to} @${m.line}`)).toEqual(['inter 2s (default) -> inter 200ms @4', 'inter 5 -> inter 1ms @5']);
  });

  it('points an existing stats socket at the runtime socket, raising its level to admin', () => {
    const analysis = haproxyDialect.analyze(SOURCE, 'haproxy.cfg');
    const rendered = haproxyDialect.render(SOURCE, 'haproxy.cfg', analysis, { ...plan(analysis), runtimeSocket: '/run/lbdrill/t2/runtime.sock' });
    const text = rendered.files['haproxy.cfg'] as string;
    expect(text.split('\n')[1]).toBe('    stats socket /run/lbdrill/t2/runtime.sock mode 660 level admin');
    expect(text.split('\n')).toHaveLength(SOURCE.split('\n').length);
    expect(rendered.mapped.filter((m) => m.kind === 'runtime-api')).toEqual([
      { kind: 'runtime-api', from: 'stats socket /run/haproxy/admin.sock mode 660 level user', to: 'stats socket /run/lbdrill/t2/runtime.sock mode 660 level admin', line: 2 },
    ]);

    const noLevel = 'global\n    stats socket ipv4@127.0.0.1:9999\n    stats socket /run/haproxy/admin.sock mode 600 # admin socket\n';
    const out = haproxyDialect.render(noLevel, 'haproxy.cfg', haproxyDialect.analyze(noLevel, 'haproxy.cfg'), { ...plan(haproxyDialect.analyze(noLevel, 'haproxy.cfg')), runtimeSocket: '/r/rt.sock' });
    expect((out.files['haproxy.cfg'] as string).split('\n')[2]).toBe('    stats socket /r/rt.sock mode 600 level admin # admin socket');
  });

  it('appends a global section with the runtime socket after the last line when there is no stats socket', () => {
    const source = 'defaults\n    mode http\nbackend be\n    server a 10.0.0.1:80';
    const analysis = haproxyDialect.analyze(source, 'haproxy.cfg');
    const rendered = haproxyDialect.render(source, 'haproxy.cfg', analysis, { ...plan(analysis), runtimeSocket: '/r/rt.sock' });
    expect(rendered.files['haproxy.cfg']).toBe('defaults\n    mode http\nbackend be\n    server a 127.0.11.1:43000\n\nglobal\n    stats socket /r/rt.sock mode 600 level admin\n');
    expect(rendered.mapped.filter((m) => m.kind === 'runtime-api')).toEqual([
      { kind: 'runtime-api', from: 'no stats socket', to: 'appended after the last line: global / stats socket /r/rt.sock mode 600 level admin' },
    ]);
  });
});

// ---- the published file under the real HAProxy ----



describe('the published sysmanage haproxy.cfg under HAProxy 2.6', () => {
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

describe('the runtime socket under HAProxy 2.6', () => {
  let dir: string;
  const backends: Backend[] = [];
  const BODY = ['defaults', '    mode http', '    timeout connect 1s', '    timeout client 5s', '    timeout server 5s', 'frontend fe', '    bind :80', '    default_backend be', 'backend be', '    server s1 10.0.0.1:80', '    server s2 10.0.0.2:80'];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lbdrill-haproxy-rt-'));
    chmodSync(dir, 0o755);
    backends.push(await startBackend('127.0.21.1'), await startBackend('127.0.21.2'));
  });
  afterAll(async () => {
    for (const b of backends) await new Promise((r) => b.server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  /** Renders source with a runtime socket, starts HAProxy, and proves the socket answers at admin level. */
  async function drive(name: string, source: string): Promise<string> {
    const runDir = join(dir, name);
    mkdirSync(runDir, { recursive: true });
    const analysis = haproxyDialect.analyze(source, 'haproxy.cfg');
    const port = await freePort();
    const socket = join(runDir, 'runtime.sock');
    const rendered = haproxyDialect.render(source, 'haproxy.cfg', analysis, {
      runDir,
      upstreams: new Map([['10.0.0.1:80', (backends[0] as Backend).address], ['10.0.0.2:80', (backends[1] as Backend).address]]),
      ports: new Map([[80, port]]),
      tls: { certFile: join(runDir, 'server.crt'), keyFile: join(runDir, 'server.key'), pemFile: join(runDir, 'server.pem') },
      runtimeSocket: socket,
    });
    const text = rendered.files['haproxy.cfg'] as string;
    writeFileSync(join(runDir, 'haproxy.cfg'), text);
    const proxy = await startProxy('haproxy', ['-f', join(runDir, 'haproxy.cfg'), '-db'], port);
    try {
      const state = await eventually(() => runtimeCommand(socket, 'show servers state be'));
      expect(state).toMatch(/^\d+ be 1 s1 127\.0\.21\.1 2 /m);
      expect(state).toMatch(/^\d+ be 2 s2 127\.0\.21\.2 2 /m);
      // Changing a server's state needs `level admin`; at user or operator level HAProxy answers "Permission denied".
      expect((await runtimeCommand(socket, 'disable server be/s1')).trim()).toBe('');
      for (const b of backends) b.paths.length = 0;
      for (let i = 0; i < 4; i++) expect((await get(port, `/r${i}`, false, 'x')).body).toBe('backend 127.0.21.2');
      expect((backends[0] as Backend).paths).toEqual([]);
      expect(await runtimeCommand(socket, 'show servers state be')).toMatch(/^\d+ be 1 s1 127\.0\.21\.1 \d+ 1 /m);
    } finally {
      await proxy.stop();
    }
    return text;
  }

  it('an existing `stats socket ... level user` becomes the runtime socket at admin level', async () => {
    const text = await drive('existing', ['global', '    stats socket /run/haproxy/admin.sock mode 660 level user', ...BODY, ''].join('\n'));
    expect(text.split('\n')[1]).toBe(`    stats socket ${join(dir, 'existing', 'runtime.sock')} mode 660 level admin`);
  });

  it('a config with no stats socket gets one in a global section appended after its last line', async () => {
    // Without a final newline too: HAProxy 2.6 refuses a last line with no LF, so the append ends it first.
    const text = await drive('appended', BODY.join('\n'));
    const lines = text.split('\n');
    expect(lines.slice(BODY.length - 2)).toEqual([
      `    server s1 ${(backends[0] as Backend).address}`,
      `    server s2 ${(backends[1] as Backend).address}`,
      '',
      'global',
      `    stats socket ${join(dir, 'appended', 'runtime.sock')} mode 600 level admin`,
      '',
    ]);
  });
});

describe('haproxy companion files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbdrill-hx-companions-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'other'));
  writeFileSync(join(dir, 'nodes.map'), 'node-a master1\n');
  writeFileSync(join(dir, 'other', 'nodes.map'), 'node-b master2\n');
  writeFileSync(join(dir, '503.http'), 'HTTP/1.0 503 Service Unavailable\r\n\r\nbusy\n');
  const source = [
    'defaults',
    '    mode http',
    '    errorfile 503 /etc/haproxy/custom-errors/503.http',
    'frontend f',
    '    bind :80',
    '    http-request set-var(txn.node) req.hdr(x-node-name),lower,map(/etc/haproxy/maps/nodes.map,master1)',
    `    http-request set-map(/etc/haproxy/maps/nodes.map) %[req.hdr(x-node)] %[req.hdr(x-master)] if { path /learn }`,
    `    use_backend %[req.hdr(host),map_str(${join(dir, 'other', 'nodes.map')},b)]`,
    '    http-request return status 503 content-type text/plain file /etc/haproxy/custom-errors/503.http if { path /busy }',
    'backend b',
    '    server s1 10.0.0.1:80',
  ].join('\n');

  it('copies maps and error files into runDir/files, rewriting only the paths in place', () => {
    const config = join(dir, 'haproxy.cfg');
    const analysis = haproxyDialect.analyze(source, config);
    expect(analysis.files?.map((f) => `${f.kind} ${f.path} @${f.line} <- ${f.foundAt.slice(dir.length)}`)).toEqual([
      'errorfile /etc/haproxy/custom-errors/503.http @3 <- /503.http',
      'map /etc/haproxy/maps/nodes.map @6 <- /nodes.map',
      'map /etc/haproxy/maps/nodes.map @7 <- /nodes.map',
      `map ${join(dir, 'other', 'nodes.map')} @8 <- /other/nodes.map`,
      'errorfile /etc/haproxy/custom-errors/503.http @9 <- /503.http',
    ]);
    const rendered = haproxyDialect.render(source, config, analysis, plan(analysis, '/run/lbdrill/c1'));
    const text = rendered.files['haproxy.cfg'] as string;
    expect(changedLines(source, text)).toEqual([3, 5, 6, 7, 8, 9, 11]);
    expect(text.split('\n')[5]).toBe('    http-request set-var(txn.node) req.hdr(x-node-name),lower,map(/run/lbdrill/c1/files/nodes.map,master1)');
    expect(text.split('\n')[6]).toContain('set-map(/run/lbdrill/c1/files/nodes.map) %[req.hdr(x-node)]');
    expect(text.split('\n')[7]).toContain('map_str(/run/lbdrill/c1/files/nodes-2.map,b)');
    expect(text.split('\n')[8]).toContain(' file /run/lbdrill/c1/files/503.http if');
    expect(Object.keys(rendered.files).sort()).toEqual(['files/503.http', 'files/nodes-2.map', 'files/nodes.map', 'haproxy.cfg']);
    expect(rendered.files['files/nodes-2.map']).toBe('node-b master2\n');
    expect(rendered.mapped.filter((m) => m.companion !== undefined).map((m) => `${m.companion} ${m.from} -> ${m.to} @${m.line}`)).toEqual([
      'errorfile /etc/haproxy/custom-errors/503.http -> /run/lbdrill/c1/files/503.http @3',
      'map /etc/haproxy/maps/nodes.map -> /run/lbdrill/c1/files/nodes.map @6',
      'map /etc/haproxy/maps/nodes.map -> /run/lbdrill/c1/files/nodes.map @7',
      `map ${join(dir, 'other', 'nodes.map')} -> /run/lbdrill/c1/files/nodes-2.map @8`,
      'errorfile /etc/haproxy/custom-errors/503.http -> /run/lbdrill/c1/files/503.http @9',
    ]);
  });

  it('a missing map is one line naming the file and the config line', () => {
    const config = join(dir, 'sub', 'haproxy.cfg');
    const text = 'frontend f\n    bind :80\n    use_backend %[req.hdr(host),map(/etc/haproxy/maps/hosts.map,b)]\nbackend b\n    server s 10.0.0.1:80\n';
    expect(() => haproxyDialect.analyze(text, config)).toThrow(`${config}:3: map file /etc/haproxy/maps/hosts.map not found (nor hosts.map next to the config)`);
    try {
      haproxyDialect.analyze(text, config);
    } catch (err) {
      expect(isLbdrillError(err, 'LBDRILL_ERR_CONFIG_READ')).toBe(true);
    }
  });
});

describe('HAProxy configs in several -f files', () => {
  const TREE = fileURLToPath(new URL('../../../fixtures/trees/haproxy-split/', import.meta.url));
  const read = (name: string): { path: string; content: string } => ({ path: join(TREE, name), content: readFileSync(join(TREE, name), 'utf8') });
  const [debian, tuning, api] = [read('00-debian.cfg'), read('10-tuning.cfg'), read('20-api.cfg')];

  it('reads the files as one config: servers of a later file with their file, defaults of an earlier one inherited', () => {
    const analysis = haproxyDialect.analyze(debian.content, debian.path, [tuning, api]);
    expect(analysis.upstreams.map((u) => `${u.pool} ${u.name} ${u.address} ${u.file?.slice(TREE.length)}:${u.line}`)).toEqual([
      'be_api api1 10.0.0.21:8080 20-api.cfg:8',
      'be_api api2 10.0.0.22:8080 20-api.cfg:9',
    ]);
    expect(analysis.listeners.map((l) => `${l.port} ${l.file?.slice(TREE.length)}:${l.line}`)).toEqual(['80 20-api.cfg:2']);
    expect(analysis.pools?.[0]?.active?.path).toBe('/health');
    expect(analysis.mains?.map((m) => m.path)).toEqual([tuning.path, api.path]);
  });

  it('renders each file in place, in order, as extraMains, and lists every change with its file', () => {
    const analysis = haproxyDialect.analyze(debian.content, debian.path, [tuning, api]);
    const rendered = haproxyDialect.render(debian.content, debian.path, analysis, { ...plan(analysis), runtimeSocket: '/run/lbdrill/t2/admin.sock' });
    expect(rendered.extraMains).toEqual(['10-tuning.cfg', '20-api.cfg']);
    expect(changedLines(api.content, rendered.files['20-api.cfg'] as string)).toEqual([2, 8, 9]);
    expect((rendered.files['20-api.cfg'] as string).split('\n')[7]).toBe('    server api1 127.0.11.1:43000 check');
    expect(rendered.files['10-tuning.cfg']).toBe(tuning.content);
    expect(rendered.mapped.filter((m) => m.file !== undefined).map((m) => `${m.kind} ${m.from} -> ${m.to} ${m.file?.slice(TREE.length)}:${m.line}`)).toEqual([
      'listen :80 -> 127.0.0.1:44000 20-api.cfg:2',
      'upstream 10.0.0.21:8080 -> 127.0.11.1:43000 20-api.cfg:8',
      'upstream 10.0.0.22:8080 -> 127.0.11.2:43001 20-api.cfg:9',
    ]);
    // The runtime socket is Debian's own stats socket in the first file.
    expect((rendered.files['haproxy.cfg'] as string).split('\n')[4]).toBe('\tstats socket /run/lbdrill/t2/admin.sock mode 660 level admin');
  });

  it('lowers a global maxconn or ulimit-n the machine cannot give, in place, saying from what to what', () => {
    const analysis = haproxyDialect.analyze(debian.content, debian.path, [tuning, api]);
    const rendered = haproxyDialect.render(debian.content, debian.path, analysis, { ...plan(analysis), fdLimit: 20_000 });
    expect((rendered.files['10-tuning.cfg'] as string).split('\n')[2]).toBe('    maxconn 9500');
    expect(rendered.mapped.filter((m) => m.kind === 'limit').map((m) => `${m.from} -> ${m.to} ${m.file?.slice(TREE.length)}:${m.line}`)).toEqual([
      'maxconn 100000 -> maxconn 9500 (2 files per connection + 1000 must fit the 20000 open files HAProxy may have here) 10-tuning.cfg:3',
    ]);
    const own = 'global\n    ulimit-n 300000\n    maxconn 5000\nlisten l\n    bind :80\n    server s 10.0.0.1:80\n';
    const ownRendered = haproxyDialect.render(own, 'haproxy.cfg', haproxyDialect.analyze(own, 'haproxy.cfg'), { ...plan(haproxyDialect.analyze(own, 'haproxy.cfg')), fdLimit: 20_000 });
    expect((ownRendered.files['haproxy.cfg'] as string).split('\n').slice(1, 3)).toEqual(['    ulimit-n 20000', '    maxconn 5000']);
    const fits = haproxyDialect.render(own, 'haproxy.cfg', haproxyDialect.analyze(own, 'haproxy.cfg'), { ...plan(haproxyDialect.analyze(own, 'haproxy.cfg')), fdLimit: 400_000 });
    expect(fits.mapped.filter((m) => m.kind === 'limit')).toEqual([]);
  });
});

describe('frontends on one port with different addresses (HAProxy examples/auth.cfg)', () => {
  const source = [
    'userlist customer2',
    '\tuser peter insecure-password peter',
    '\tuser boss password $6$k6y3o.eP$JlKBx9za966',
    'frontend c1',
    '\tbind 127.101.128.1:8080',
    '\tmode http',
    '\tuse_backend c1dev if { hdr_beg(host) -i dev.local }',
    'frontend c2',
    '\tbind 127.201.128.1:8080',
    '\tmode http',
    '\tdefault_backend c2b0',
    'backend c1dev',
    '\tserver s6 192.168.152.206:80',
    'backend c2b0',
    '\tserver s1 192.168.152.201:80',
  ].join('\n');

  it('reads each bind with its address and the pools its frontend routes to, and the userlist users', () => {
    const analysis = haproxyDialect.analyze(source, 'auth.cfg');
    expect(analysis.listeners.map((l) => [l.address, l.port, l.pools])).toEqual([
      ['127.101.128.1', 8080, ['c1dev']],
      ['127.201.128.1', 8080, ['c2b0']],
    ]);
    expect(analysis.authUsers).toEqual([
      { name: 'peter', password: 'peter', list: 'customer2', line: 2 },
      { name: 'boss', list: 'customer2', line: 3 },
    ]);
  });

  it('gives each address its own loopback port: one shared port would let the kernel pick the frontend (SO_REUSEPORT)', () => {
    const analysis = haproxyDialect.analyze(source, 'auth.cfg');
    const rendered = haproxyDialect.render(source, 'auth.cfg', analysis, {
      ...plan(analysis),
      addressPorts: new Map([['127.101.128.1:8080', 44001], ['127.201.128.1:8080', 44002]]),
    });
    const binds = (rendered.files['haproxy.cfg'] as string).split('\n').filter((l) => l.includes('bind'));
    expect(binds).toEqual(['\tbind 127.0.0.1:44001', '\tbind 127.0.0.1:44002']);
  });
});
