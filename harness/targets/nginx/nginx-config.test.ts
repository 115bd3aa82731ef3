import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLbdrillError } from '../../errors.ts';
import type { ConfigAnalysis, ListenerRef, RenderPlan } from '../config-plan.ts';
import { changedLines, freePort, get, makeCertificate, runConfig, startBackend, startProxy, type Backend } from '../live-proxy-kit.ts';
import { nginxDialect, nginxGlobalDirectives, nginxTempDirs, nginxTimeMs } from './nginx-config.ts';

/** Listeners without their client limits (client-limits.test.ts reads those). */
function withoutLimits(listeners: readonly ListenerRef[]): Array<Omit<ListenerRef, 'limits'>> {
  return listeners.map(({ limits, ...rest }) => rest);
}

const SHAKENFIST = '/work/shared/real-configs/shakenfist/nginx-loadbalancer.conf';
const SYSMANAGE = '/work/shared/real-configs/sysmanage/nginx.conf';
const DEBIAN_MAIN = '/etc/nginx/nginx.conf';

function plan(analysis: ConfigAnalysis, runDir = '/run/lbdrill/t1', basePort = 41000): RenderPlan {
  const addresses = [...new Set(analysis.upstreams.map((u) => u.address))];
  return {
    runDir,
    upstreams: new Map(addresses.map((a, i) => [a, `127.0.10.${i + 1}:${basePort + i}`])),
    ports: new Map(analysis.listeners.map((l, i) => [l.port, 42000 + i])),
    tls: { certFile: `${runDir}/server.crt`, keyFile: `${runDir}/server.key`, pemFile: `${runDir}/server.pem` },
  };
}

/** Line numbers (1-based) where two texts differ; both must have the same number of lines. */

function parseFails(source: string): string {
  try {
    nginxDialect.analyze(source, 'site.conf');
  } catch (err) {
    expect(isLbdrillError(err, 'LBDRILL_ERR_CONFIG_PARSE')).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected a parse error');
}

describe('nginxDialect.analyze', () => {
  it('reads the published shakenfist fragment: pool sfapi, :80 plain and :443 TLS for sf.example.com', () => {
    const analysis = nginxDialect.analyze(readFileSync(SHAKENFIST, 'utf8'), SHAKENFIST);
    expect(analysis.fragment).toBe(true);
    expect(analysis.upstreams).toEqual([
      { pool: 'sfapi', name: '10.0.0.1:13000', address: '10.0.0.1:13000', line: 32, backup: false },
      { pool: 'sfapi', name: '10.0.0.2:13000', address: '10.0.0.2:13000', line: 33, backup: false },
    ]);
    expect(withoutLimits(analysis.listeners)).toEqual([
      { spec: '80', port: 80, tls: false, serverNames: ['sf.example.com'], line: 42 },
      // no ssl_protocols anywhere: the refusal of TLS 1.0/1.1 is OpenSSL's default, not the config's
      { spec: '443', port: 443, tls: true, serverNames: ['sf.example.com'], line: 49 },
    ]);
    // proxy_read_timeout 3600s in the TLS server block, where every location proxies to sfapi
    expect(analysis.pools).toEqual([{ pool: 'sfapi', passive: { maxFails: 1, failTimeoutMs: 10_000 }, redispatch: true, tunnelTimeoutMs: 3_600_000 }]);
  });

  it('reads the published sysmanage fragment: two pools sharing servers, one backup', () => {
    const analysis = nginxDialect.analyze(readFileSync(SYSMANAGE, 'utf8'), SYSMANAGE);
    expect(analysis.fragment).toBe(true);
    expect(analysis.upstreams.map((u) => `${u.pool} ${u.address}${u.backup ? ' backup' : ''}${u.weight !== undefined ? ` weight ${u.weight}` : ''}`)).toEqual([
      'sysmanage_backend 10.0.1.10:8000 weight 3',
      'sysmanage_backend 10.0.1.11:8000 weight 3',
      'sysmanage_backend 10.0.1.12:8000 weight 2',
      'sysmanage_backend 10.0.1.13:8000 backup',
      'sysmanage_websocket 10.0.1.10:8000',
      'sysmanage_websocket 10.0.1.11:8000',
      'sysmanage_websocket 10.0.1.12:8000',
    ]);
    expect(analysis.listeners.map((l) => [l.port, l.tls, l.serverNames, l.tlsProtocols])).toEqual([
      [80, false, ['sysmanage.example.com'], undefined],
      [443, true, ['sysmanage.example.com'], { text: 'ssl_protocols TLSv1.2 TLSv1.3;', line: 29 }],
    ]);
    // /api/ says 60s and /api/auth/ inherits nginx's 60 s; /ws/ says 7d
    expect(analysis.pools?.map((p) => [p.pool, p.tunnelTimeoutMs])).toEqual([
      ['sysmanage_backend', 60_000],
      ['sysmanage_websocket', 604_800_000],
    ]);
  });

  it('finds literal proxy_pass addresses but not upstream names or variables', () => {
    const source = [
      'upstream app { server app.internal; server 10.1.1.1:9000 backup; }',
      'server {',
      '    listen 8080;',
      '    location /a { proxy_pass http://app/; }',
      '    location /b { proxy_pass https://10.2.2.2/x; }',
      '    location /c { proxy_pass "http://[fd00::5]:7000"; }',
      '    location /d { proxy_pass http://$backend; }',
      '    location /e { proxy_pass http://10.2.2.2:443; }',
      '    location /f { proxy_pass http://10.3.3.3:8080$request_uri; }',
      '}',
    ].join('\n');
    const analysis = nginxDialect.analyze(source, 'site.conf');
    expect(analysis.upstreams.map((u) => [u.pool, u.address, u.backup, u.line])).toEqual([
      ['app', 'app.internal:80', false, 1],
      ['app', '10.1.1.1:9000', true, 1],
      ['10.2.2.2:443', '10.2.2.2:443', false, 5],
      ['[fd00::5]:7000', '[fd00::5]:7000', false, 6],
      ['10.3.3.3:8080', '10.3.3.3:8080', false, 9],
    ]);
  });

  it('keeps comments, quoted # and regex server names out of the way', () => {
    const source = [
      'server { # listen 9999;',
      '    listen 443 ssl; # comment with { brace',
      '    server_name "a.example.com" ~^(?<x>.+)\\.example\\.net$ *.example.org _ b.example.com;',
      '    add_header X-Note "not # a comment; {";',
      '    location / { proxy_pass http://10.0.0.9:81; }',
      '}',
    ].join('\n');
    const analysis = nginxDialect.analyze(source, 'site.conf');
    expect(withoutLimits(analysis.listeners)).toEqual([{ spec: '443', port: 443, tls: true, serverNames: ['a.example.com', 'b.example.com'], line: 2 }]);
    expect(analysis.upstreams.map((u) => u.address)).toEqual(['10.0.0.9:81']);
  });

  it('drops an IPv6 listen whose port the block already listens on over IPv4, keeps a lone one', () => {
    const source = ['server {', '    listen 80;', '    listen [::]:80;', '    listen [::]:8443 ssl ipv6only=on;', '    ssl on;', '}'].join('\n');
    const analysis = nginxDialect.analyze(source, 'site.conf');
    expect(analysis.listeners.map((l) => [l.spec, l.port, l.tls])).toEqual([
      ['80', 80, true],
      ['[::]:8443', 8443, true],
    ]);
  });

  it('treats a server block with no listen as nginx does: *:80', () => {
    const analysis = nginxDialect.analyze('server { server_name x.example.com; location / { proxy_pass http://10.0.0.1; } }', 'site.conf');
    expect(withoutLimits(analysis.listeners)).toEqual([{ spec: '*:80', port: 80, tls: false, serverNames: ['x.example.com'], line: 1 }]);
  });

  it('succeeds with no upstreams at all', () => {
    const analysis = nginxDialect.analyze('server { listen 80; return 200 "ok"; }', 'site.conf');
    expect(analysis.upstreams).toEqual([]);
  });

  it('tells a full nginx.conf from a fragment and notes main-level pid/error_log', () => {
    const full = nginxDialect.analyze('user www-data;\npid /run/nginx.pid;\nevents {}\nhttp { server { listen 80; } }\n', 'nginx.conf');
    expect(full.fragment).toBe(false);
    expect(full.mainSets).toEqual({ pid: true, errorLog: false });
    expect(nginxGlobalDirectives(full, '/run/x')).toBe('daemon off; error_log /run/x/error.log notice;');
    expect(nginxGlobalDirectives('events {}\nhttp {}\n', '/run/x')).toBe('daemon off; pid /run/x/nginx.pid; error_log /run/x/error.log notice;');
    expect(nginxGlobalDirectives(nginxDialect.analyze('server { listen 80; }', 's'), '/run/x')).toBe('daemon off;');
  });

  it('reports unreadable syntax as file:line', () => {
    expect(parseFails('server {\n    listen 80;\n')).toMatch(/^site\.conf:3: unexpected end of file, expecting "}"/);
    expect(parseFails('server {\n    listen 80;\n}\n}\n')).toMatch(/^site\.conf:4: unexpected "}"/);
    expect(parseFails('server {\n    return 200 "open\n}\n')).toMatch(/^site\.conf:2: unterminated quoted string/);
    expect(parseFails('server {\n    listen 80\n}')).toMatch(/^site\.conf:3: unexpected "}"/);
    expect(parseFails('server {\n    listen *:http;\n}')).toMatch(/^site\.conf:2: cannot read listen address/);
  });
});

describe('nginxDialect: servers spoken to over TLS', () => {
  it('marks the servers of an upstream some proxy_pass https:// uses, and a literal https:// target', () => {
    const source = ['upstream secure { server 10.0.0.1:443; }', 'upstream plain { server 10.0.0.2:80; }', 'server {', '    listen 80;', '    location /a/ { proxy_pass https://secure; }', '    location /b/ { proxy_pass http://plain; }', '    location /c/ { proxy_pass https://10.0.0.3:8443/; }', '    location /d/ { proxy_pass http://10.0.0.4:8080/; }', '}'].join('\n');
    expect(nginxDialect.analyze(source, 'site.conf').upstreams.map((u) => `${u.address} ${u.tls ?? false}`)).toEqual(['10.0.0.1:443 true', '10.0.0.2:80 false', '10.0.0.3:8443 true', '10.0.0.4:8080 false']);
  });
});

describe('nginxDialect.render', () => {
  it('changes only the mapped spans of the shakenfist file and wraps it', () => {
    const source = readFileSync(SHAKENFIST, 'utf8');
    const analysis = nginxDialect.analyze(source, SHAKENFIST);
    const p = plan(analysis);
    const rendered = nginxDialect.render(source, SHAKENFIST, analysis, p);
    expect(rendered.main).toBe('nginx.conf');
    expect(rendered.source).toBe('site.conf');
    const site = rendered.files['site.conf'] as string;
    expect(changedLines(source, site)).toEqual([32, 33, 42, 49, 56, 57]);
    const lines = site.split('\n');
    expect(lines[31]).toBe('    server 127.0.10.1:41000;');
    expect(lines[32]).toBe('    server 127.0.10.2:41001;');
    expect(lines[41]).toBe('    listen 127.0.0.1:42000;');
    expect(lines[48]).toBe('    listen 127.0.0.1:42001 ssl;');
    expect(lines[55]).toBe('    ssl_certificate     /run/lbdrill/t1/server.crt;');
    expect(lines[56]).toBe('    ssl_certificate_key /run/lbdrill/t1/server.key;');
    expect(rendered.mapped.map((m) => m.kind)).toEqual(['upstream', 'upstream', 'listen', 'listen', 'certificate', 'certificate', 'wrap']);
    const main = rendered.files['nginx.conf'] as string;
    expect(main).toContain('include /run/lbdrill/t1/site.conf;');
    expect(main).toContain('pid /run/lbdrill/t1/nginx.pid;');
    expect(main).toContain('proxy_temp_path /run/lbdrill/t1/tmp/proxy;');
    expect(nginxTempDirs('/run/lbdrill/t1')).toEqual([
      '/run/lbdrill/t1/tmp',
      '/run/lbdrill/t1/tmp/client_body',
      '/run/lbdrill/t1/tmp/proxy',
      '/run/lbdrill/t1/tmp/fastcgi',
      '/run/lbdrill/t1/tmp/uwsgi',
      '/run/lbdrill/t1/tmp/scgi',
    ]);
  });

  it('comments out a dropped listen in place, moving what follows it on the line in front', () => {
    const source = [
      'server {',
      '    listen 80; listen [::]:80; server_name a;',
      '    listen [::]:80 default_server; # v6',
      '    listen [::]:443 ssl ipv6only=on http2;',
      '    listen [::]:8080; listen 8080;',
      '}',
    ].join('\n');
    const analysis = nginxDialect.analyze(source, 'site.conf');
    const rendered = nginxDialect.render(source, 'site.conf', analysis, plan(analysis));
    const out = (rendered.files['site.conf'] as string).split('\n');
    expect(out[1]).toBe('    listen 127.0.0.1:42000; server_name a; # lbdrill dropped: listen [::]:80;');
    expect(out[2]).toBe('    # lbdrill dropped: listen [::]:80 default_server; # v6');
    expect(out[3]).toBe('    listen 127.0.0.1:42001 ssl http2;');
    // The live tail is itself mapped: both edits apply.
    expect(out[4]).toBe('    listen 127.0.0.1:42002; # lbdrill dropped: listen [::]:8080;');
    expect(rendered.mapped.filter((m) => m.kind === 'dropped').map((m) => m.from)).toEqual([
      'listen [::]:80;',
      'listen [::]:80 default_server;',
      'ipv6only=on',
      'listen [::]:8080;',
    ]);
  });

  it('maps proxy_pass addresses, paths and TLS files, keeping quotes, params and format args', () => {
    const source = [
      'proxy_cache_path /var/cache/nginx/api levels=1:2 keys_zone=api:10m;',
      'server {',
      '    listen 0.0.0.0:8443 ssl default_server;',
      '    access_log /var/log/nginx/api.access.log combined buffer=32k;',
      '    error_log "/var/log/nginx/api.error.log" warn;',
      '    ssl_dhparam /etc/ssl/dh.pem;',
      '    ssl_trusted_certificate /etc/ssl/chain.pem; ssl_stapling on;',
      '    access_log off;',
      '    location / { proxy_pass "https://10.9.9.9:8443/base/"; }',
      '}',
      'server { server_name implicit.example.com; }',
    ].join('\n');
    const analysis = nginxDialect.analyze(source, 'site.conf');
    const rendered = nginxDialect.render(source, 'site.conf', analysis, {
      ...plan(analysis),
      ports: new Map([
        [8443, 42010],
        [80, 42011],
      ]),
    });
    const out = (rendered.files['site.conf'] as string).split('\n');
    expect(out).toEqual([
      'proxy_cache_path /run/lbdrill/t1/tmp/api levels=1:2 keys_zone=api:10m;',
      'server {',
      '    listen 127.0.0.1:42010 ssl default_server;',
      '    access_log /run/lbdrill/t1/api.access.log combined buffer=32k;',
      '    error_log "/run/lbdrill/t1/api.error.log" warn;',
      '    # lbdrill dropped: ssl_dhparam /etc/ssl/dh.pem;',
      '    ssl_trusted_certificate /run/lbdrill/t1/server.crt; ssl_stapling on;',
      '    access_log off;',
      '    location / { proxy_pass "https://127.0.10.1:41000/base/"; }',
      '}',
      'server { listen 127.0.0.1:42011; server_name implicit.example.com; }',
    ]);
  });

  it('renders a full nginx.conf in place: daemon commented out, pid and logs moved', () => {
    const source = 'daemon on;\npid /run/nginx.pid;\nevents {}\nhttp {\n  access_log /var/log/nginx/access.log;\n  server { listen 80; location / { proxy_pass http://10.0.0.1:8080; } }\n}\n';
    const analysis = nginxDialect.analyze(source, 'nginx.conf');
    const rendered = nginxDialect.render(source, 'nginx.conf', analysis, plan(analysis));
    expect(Object.keys(rendered.files)).toEqual(['nginx.conf']);
    expect(rendered.files['nginx.conf']).toBe(
      '# lbdrill dropped: daemon on;\npid /run/lbdrill/t1/nginx.pid;\nevents {}\nhttp {\n  access_log /run/lbdrill/t1/access.log;\n  server { listen 127.0.0.1:42000; location / { proxy_pass http://127.0.10.1:41000; } }\n}\n',
    );
    expect(rendered.mapped.at(-1)).toEqual({ kind: 'path', from: 'error_log (built-in default)', to: '/run/lbdrill/t1/error.log' });
  });
});

describe('nginxDialect: what bindings need (weights, the hashed cookie, TLS versions, tunnel timeouts)', () => {
  const SOURCE = [
    'events {}',
    'http {',
    '    ssl_protocols TLSv1.2 TLSv1.3;',
    '    proxy_read_timeout 30s;',
    '    upstream app {',
    '        hash $cookie_SRV consistent;',
    '        server 10.0.0.1:80 weight=5 max_fails=2;',
    '        server 10.0.0.2:80;',
    '    }',
    '    upstream uri { hash $request_uri; server 10.0.0.3:80; server 10.0.0.4:80; }',
    '    upstream single { server 10.0.0.5:80 weight=2; }',
    '    server {',
    '        listen 443 ssl;',
    '        location / { proxy_pass http://app; }',
    '        location /ws { proxy_pass http://app; proxy_read_timeout 1h; }',
    '        location /u { proxy_pass http://uri; }',
    '    }',
    '    server {',
    '        listen 8443 ssl;',
    '        listen 8080;',
    '        ssl_protocols TLSv1 TLSv1.1 TLSv1.2;',
    '        location / { proxy_pass http://single; }',
    '    }',
    '}',
    'stream {',
    '    upstream tcp { server 10.0.0.6:5432; server 10.0.0.7:5432; }',
    '    server { listen 5432; proxy_timeout 10m; proxy_pass tcp; }',
    '}',
  ].join('\n');
  const analysis = nginxDialect.analyze(SOURCE, 'nginx.conf');

  it('gives each server its weight= as written', () => {
    expect(analysis.upstreams.map((u) => [u.address, u.weight])).toEqual([
      ['10.0.0.1:80', 5],
      ['10.0.0.2:80', undefined],
      ['10.0.0.3:80', undefined],
      ['10.0.0.4:80', undefined],
      ['10.0.0.5:80', 2],
      ['10.0.0.6:5432', undefined],
      ['10.0.0.7:5432', undefined],
    ]);
  });

  it('reads `hash $cookie_NAME` as a cookie nginx honours but never sets; the longest read timeout of the locations using a pool is its tunnel timeout', () => {
    expect(analysis.pools).toEqual([
      {
        pool: 'app',
        passive: { maxFails: 2, failTimeoutMs: 10_000 },
        redispatch: true,
        cookie: { name: 'SRV', mode: 'honour', indirect: false, at: { text: 'hash $cookie_SRV consistent;', line: 6 } },
        tunnelTimeoutMs: 3_600_000,
      },
      { pool: 'uri', passive: { maxFails: 1, failTimeoutMs: 10_000 }, redispatch: true, tunnelTimeoutMs: 30_000 },
      // one server: no passive ejection, but the tunnel timeout still holds
      { pool: 'single', tunnelTimeoutMs: 30_000 },
      // stream: proxy_timeout, not the http block's proxy_read_timeout
      { pool: 'tcp', passive: { maxFails: 1, failTimeoutMs: 10_000 }, redispatch: true, tunnelTimeoutMs: 600_000 },
    ]);
  });

  it('gives a pool proxied to by address the tunnel timeout its location writes, and says nothing when none is written', () => {
    const source = [
      'server {',
      '    listen 80;',
      '    location /ws/ { proxy_pass http://127.0.0.1:8000; proxy_read_timeout 1h; }',
      '    location / { proxy_pass http://10.0.0.9:3000; }',
      '}',
    ].join('\n');
    const literal = nginxDialect.analyze(source, 'site.conf');
    expect(literal.upstreams.map((u) => u.pool)).toEqual(['127.0.0.1:8000', '10.0.0.9:3000']);
    expect(literal.pools).toEqual([{ pool: '127.0.0.1:8000', tunnelTimeoutMs: 3_600_000 }]);
  });

  it("says where a TLS listener's versions come from: its server's ssl_protocols, else the http block's", () => {
    expect(analysis.listeners.map((l) => [l.port, l.tlsProtocols])).toEqual([
      [443, { text: 'ssl_protocols TLSv1.2 TLSv1.3;', line: 3 }],
      [8443, { text: 'ssl_protocols TLSv1 TLSv1.1 TLSv1.2;', line: 21 }],
      [8080, undefined],
      [5432, undefined],
    ]);
  });
});

describe('nginxDialect health and failover settings', () => {
  const SOURCE = [
    'upstream defaults { server 10.0.0.1:80; server 10.0.0.2:80; }',
    'upstream tuned {',
    '    server 10.0.0.3:80 max_fails=3 fail_timeout=1m30s;',
    '    server 10.0.0.4:80 max_fails=3 fail_timeout=90;',
    '    server 10.0.0.5:80 backup;',
    '}',
    'upstream never_ejected { server 10.0.0.6:80 max_fails=0; server 10.0.0.7:80 max_fails=0; }',
    'upstream alone { server 10.0.0.8:80 max_fails=2; }',
    'upstream unused { server 10.0.0.9:80; server 10.0.0.10:80; }',
    'server {',
    '    listen 80;',
    '    proxy_next_upstream error timeout http_503;',
    '    location / { proxy_pass http://defaults; }',
    '    location /t { proxy_next_upstream off; proxy_pass http://TUNED/x; }',
    '    location /n { proxy_next_upstream_tries 1; proxy_pass http://never_ejected; }',
    '    location /a { proxy_pass http://alone; }',
    '}',
  ].join('\n');

  it('reads passive ejection per upstream (nginx defaults max_fails=1 fail_timeout=10s) and redispatch from the locations proxying to it', () => {
    expect(nginxDialect.analyze(SOURCE, 'site.conf').pools).toEqual([
      { pool: 'defaults', passive: { maxFails: 1, failTimeoutMs: 10_000 }, redispatch: true },
      // proxy_next_upstream off where it is used: a failure is the client's answer.
      { pool: 'tuned', passive: { maxFails: 3, failTimeoutMs: 90_000 } },
      // max_fails=0 never ejects; a single try never redispatches: nothing to report.
      // "alone": nginx ignores max_fails for an upstream of one server.
      { pool: 'unused', passive: { maxFails: 1, failTimeoutMs: 10_000 } },
    ]);
  });

  it('treats nginx\'s default proxy_next_upstream (error timeout) as redispatch, also in stream', () => {
    const source = 'events {}\nhttp { upstream h { server 10.0.0.1:80; server 10.0.0.2:80; } server { listen 80; location / { proxy_pass http://h; } } }\n'
      + 'stream { upstream s { server 10.0.0.3:53 max_fails=2 fail_timeout=500ms; server 10.0.0.4:53; } server { listen 53; proxy_pass s; proxy_next_upstream on; } }\n';
    expect(nginxDialect.analyze(source, 'nginx.conf').pools).toEqual([
      { pool: 'h', passive: { maxFails: 1, failTimeoutMs: 10_000 }, redispatch: true },
      { pool: 's', passive: { maxFails: 2, failTimeoutMs: 500 }, redispatch: true },
    ]);
  });

  it('reads nginx time syntax: ms, s, m, h, d, w, M, y and combinations; a bare number is seconds', () => {
    expect(['500ms', '10s', '10', '1m30s', '1m30', '2h', '1d', '1w'].map(nginxTimeMs)).toEqual([500, 10_000, 10_000, 90_000, 90_000, 7_200_000, 86_400_000, 604_800_000]);
    expect(['1.5s', 's', '', '10 s', '5x'].map(nginxTimeMs)).toEqual([null, null, null, null, null]);
  });

  it('scales fail_timeout in whole seconds, rounding up, and writes the scaled default where nginx would eject', () => {
    const analysis = nginxDialect.analyze(SOURCE, 'site.conf');
    const unscaled = nginxDialect.render(SOURCE, 'site.conf', analysis, { ...plan(analysis), timeScale: 1 });
    expect(unscaled.mapped.filter((m) => m.kind === 'timing')).toEqual([]);
    const rendered = nginxDialect.render(SOURCE, 'site.conf', analysis, { ...plan(analysis), timeScale: 0.1 });
    const lines = (rendered.files['site.conf'] as string).split('\n');
    expect(lines.slice(0, 9)).toEqual([
      'upstream defaults { server 127.0.10.1:41000 fail_timeout=1s; server 127.0.10.2:41001 fail_timeout=1s; }',
      'upstream tuned {',
      '    server 127.0.10.3:41002 max_fails=3 fail_timeout=9s;',
      '    server 127.0.10.4:41003 max_fails=3 fail_timeout=9s;',
      '    server 127.0.10.5:41004 backup fail_timeout=1s;',
      '}',
      'upstream never_ejected { server 127.0.10.6:41005 max_fails=0; server 127.0.10.7:41006 max_fails=0; }',
      'upstream alone { server 127.0.10.8:41007 max_fails=2; }',
      'upstream unused { server 127.0.10.9:41008 fail_timeout=1s; server 127.0.10.10:41009 fail_timeout=1s; }',
    ]);
    expect(rendered.mapped.filter((m) => m.kind === 'timing' && m.line !== 9).map((m) => `${m.from} -> ${m.to} @${m.line}`)).toEqual([
      "fail_timeout=10s (default) -> fail_timeout=1s (nginx's 1 s clock does not scale: up to +900 ms) @1",
      "fail_timeout=10s (default) -> fail_timeout=1s (nginx's 1 s clock does not scale: up to +900 ms) @1",
      "fail_timeout=1m30s -> fail_timeout=9s (nginx's 1 s clock does not scale: up to +900 ms) @3",
      "fail_timeout=90 -> fail_timeout=9s (nginx's 1 s clock does not scale: up to +900 ms) @4",
      "fail_timeout=10s (default) -> fail_timeout=1s (nginx's 1 s clock does not scale: up to +900 ms) @5",
    ]);
    const odd = 'upstream u { server 10.0.0.1:80 fail_timeout=15s; server 10.0.0.2:80 fail_timeout=3; }';
    const oddAnalysis = nginxDialect.analyze(odd, 'site.conf');
    const out = nginxDialect.render(odd, 'site.conf', oddAnalysis, { ...plan(oddAnalysis), timeScale: 0.1 });
    expect(out.files['site.conf']).toBe('upstream u { server 127.0.10.1:41000 fail_timeout=2s; server 127.0.10.2:41001 fail_timeout=1s; }');
    expect(out.mapped.filter((m) => m.kind === 'timing').map((m) => m.to)).toEqual([
      'fail_timeout=2s (1.5 s rounded up: nginx reads fail_timeout in whole seconds; nginx\'s 1 s clock does not scale: up to +900 ms)',
      'fail_timeout=1s (0.3 s rounded up: nginx reads fail_timeout in whole seconds; nginx\'s 1 s clock does not scale: up to +900 ms)',
    ]);
  });
});

// ---- the published files under the real nginx ----



describe('the published nginx files under nginx 1.22', () => {
  let dir: string;
  const backends: Backend[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lbdrill-nginx-'));
    chmodSync(dir, 0o755);
    backends.push(await startBackend('127.0.0.1'), await startBackend('127.0.0.1'));
  });
  afterAll(async () => {
    for (const b of backends) await new Promise((r) => b.server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  async function renderInto(file: string, runDir: string): Promise<{ analysis: ConfigAnalysis; ports: Map<number, number> }> {
    mkdirSync(runDir, { recursive: true });
    chmodSync(runDir, 0o755);
    const source = readFileSync(file, 'utf8');
    const analysis = nginxDialect.analyze(source, file);
    const ports = new Map<number, number>();
    for (const l of analysis.listeners) if (!ports.has(l.port)) ports.set(l.port, await freePort());
    const addresses = [...new Set(analysis.upstreams.map((u) => u.address))];
    const rendered = nginxDialect.render(source, file, analysis, {
      runDir,
      upstreams: new Map(addresses.map((a, i) => [a, (backends[i % backends.length] as Backend).address])),
      ports,
      tls: makeCertificate(runDir),
    });
    for (const [name, text] of Object.entries(rendered.files)) {
      // Companion files (Debian's mime.types here) go under files/.
      mkdirSync(dirname(join(runDir, name)), { recursive: true });
      writeFileSync(join(runDir, name), text);
    }
    for (const d of nginxTempDirs(runDir)) mkdirSync(d, { recursive: true });
    return { analysis, ports };
  }

  /** The sysmanage file with its two limit_req_zone lines moved out of `server {}` to http level, where nginx wants them. */
  function sysmanageZonesAtHttpLevel(): string {
    const lines = readFileSync(SYSMANAGE, 'utf8').split('\n');
    const zones = lines.filter((l) => l.startsWith('limit_req_zone '));
    return [...zones, ...lines.filter((l) => !l.startsWith('limit_req_zone '))].join('\n');
  }

  function writeVariant(name: string, text: string): string {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  }

  function check(runDir: string, analysis: ConfigAnalysis): { status: number | null; output: string } {
    const r = spawnSync('nginx', ['-t', '-p', runDir, '-c', join(runDir, 'nginx.conf'), '-g', nginxGlobalDirectives(analysis, runDir)], { encoding: 'utf8' });
    return { status: r.status, output: r.stdout + r.stderr };
  }

  it('shakenfist: nginx -t accepts it, and it proxies /api over TLS and redirects plain HTTP', async () => {
    const runDir = join(dir, 'shakenfist');
    const { analysis, ports } = await renderInto(SHAKENFIST, runDir);
    const checked = check(runDir, analysis);
    expect(checked.output).toContain('test is successful');
    expect(checked.status).toBe(0);

    const tlsPort = ports.get(443) as number;
    const proxy = await startProxy('nginx', ['-p', runDir, '-c', join(runDir, 'nginx.conf'), '-g', nginxGlobalDirectives(analysis, runDir)], tlsPort);
    try {
      const reply = await get(tlsPort, '/api/auth/namespaces', true, 'sf.example.com');
      expect(reply.status).toBe(200);
      expect(reply.body).toMatch(/^backend /);
      expect(backends.flatMap((b) => b.paths)).toContain('/auth/namespaces');
      const redirect = await get(ports.get(80) as number, '/api/x', false, 'sf.example.com');
      expect(redirect.status).toBe(301);
      expect(redirect.headers.location).toBe('https://sf.example.com/api/x');
    } finally {
      await proxy.stop();
    }
    expect(existsSync(join(runDir, 'error.log'))).toBe(true);
  });

  it('sysmanage: nginx itself rejects it at the user\'s own line 38 (limit_req_zone inside server)', async () => {
    const runDir = join(dir, 'sysmanage');
    const { analysis } = await renderInto(SYSMANAGE, runDir);
    const checked = check(runDir, analysis);
    expect(checked.status).not.toBe(0);
    expect(checked.output).toMatch(/"limit_req_zone" directive is not allowed here in \S+\/site\.conf:38/);
    expect(readFileSync(SYSMANAGE, 'utf8').split('\n')[37]).toMatch(/^limit_req_zone /);
  });

  it('sysmanage with limit_req_zone moved to http level: nginx then rejects its line-30 cipher list (no GCM-SHA512 suites exist)', async () => {
    const runDir = join(dir, 'sysmanage-zones');
    const { analysis } = await renderInto(writeVariant('sysmanage-zones.conf', sysmanageZonesAtHttpLevel()), runDir);
    const checked = check(runDir, analysis);
    expect(checked.status).not.toBe(0);
    expect(checked.output).toContain('SSL_CTX_set_cipher_list("ECDHE-RSA-AES256-GCM-SHA512:DHE-RSA-AES256-GCM-SHA512") failed');
    expect(readFileSync(SYSMANAGE, 'utf8').split('\n')[29]).toBe('ssl_ciphers ECDHE-RSA-AES256-GCM-SHA512:DHE-RSA-AES256-GCM-SHA512;');
  });

  it('sysmanage with both published defects corrected: it proxies /api and answers /health over TLS', async () => {
    const runDir = join(dir, 'sysmanage-corrected');
    const file = writeVariant('sysmanage-corrected.conf', sysmanageZonesAtHttpLevel().replaceAll('GCM-SHA512', 'GCM-SHA384'));
    const { analysis, ports } = await renderInto(file, runDir);
    const checked = check(runDir, analysis);
    expect(checked.output).toContain('test is successful');
    const tlsPort = ports.get(443) as number;
    const proxy = await startProxy('nginx', ['-p', runDir, '-c', join(runDir, 'nginx.conf'), '-g', nginxGlobalDirectives(analysis, runDir)], tlsPort);
    try {
      const reply = await get(tlsPort, '/api/v1/hosts', true, 'sysmanage.example.com');
      expect(reply.status).toBe(200);
      expect(reply.body).toMatch(/^backend /);
      expect(backends.flatMap((b) => b.paths)).toContain('/api/v1/hosts');
      const health = await get(tlsPort, '/health', true, 'sysmanage.example.com');
      expect([health.status, health.body]).toEqual([200, 'healthy\n']);
    } finally {
      await proxy.stop();
    }
  });

  it("Debian's own nginx.conf: a full config, run with -g globals", async () => {
    const runDir = join(dir, 'debian');
    const { analysis } = await renderInto(DEBIAN_MAIN, runDir);
    expect(analysis.fragment).toBe(false);
    const checked = check(runDir, analysis);
    expect(checked.output).toContain('test is successful');
  });
});

describe('nginx companion files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbdrill-ngx-companions-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'snippets'));
  writeFileSync(join(dir, '.htpasswd'), 'vip:$apr1$x$y\n');
  writeFileSync(join(dir, 'nodes.map'), 'node-a master1;\n');
  writeFileSync(join(dir, 'snippets', 'headers.conf'), 'proxy_set_header Host $host;\n');
  const source = [
    'upstream master1 { server 10.0.0.41:3001; }',
    'map $http_x_node_name $m {',
    '    default master1;',
    '    include /etc/nginx/nodes.map;',
    '}',
    'server {',
    '    listen 80;',
    '    include snippets/headers.conf;',
    '    include /etc/nginx/conf.d/*.conf;',
    '    location / {',
    '        auth_basic "x"; auth_basic_user_file "/etc/nginx/.htpasswd";',
    '        proxy_pass http://$m;',
    '    }',
    '}',
  ].join('\n');

  it('copies included snippets and password files; a glob matching nothing in the tree names nothing in the run dir', () => {
    const config = join(dir, 'site.conf');
    const analysis = nginxDialect.analyze(source, config);
    expect(analysis.files?.map((f) => `${f.kind} ${f.path} @${f.line} <- ${f.foundAt.slice(dir.length)}`)).toEqual([
      'include /etc/nginx/nodes.map @4 <- /nodes.map',
      'include snippets/headers.conf @8 <- /snippets/headers.conf',
      'htpasswd /etc/nginx/.htpasswd @11 <- /.htpasswd',
    ]);
    const rendered = nginxDialect.render(source, config, analysis, plan(analysis, '/run/lbdrill/c2'));
    const site = rendered.files['site.conf'] as string;
    expect(changedLines(source, site)).toEqual([1, 4, 7, 8, 9, 11]);
    expect(site.split('\n')[3]).toBe('    include /run/lbdrill/c2/files/nodes.map;');
    expect(site.split('\n')[7]).toBe('    include /run/lbdrill/c2/files/snippets/headers.conf;');
    expect(site.split('\n')[8]).toBe('    include /run/lbdrill/c2/files/conf.d/*.conf;');
    expect(site.split('\n')[10]).toBe('        auth_basic "x"; auth_basic_user_file "/run/lbdrill/c2/files/.htpasswd";');
    expect(rendered.files['files/.htpasswd']).toBe('vip:$apr1$x$y\n');
    expect(rendered.mapped.filter((m) => m.companion === 'htpasswd').map((m) => m.to)).toEqual(['/run/lbdrill/c2/files/.htpasswd']);
  });

  it('a missing password file is one line naming the file and the config line', () => {
    const config = join(dir, 'nested', 'site.conf');
    expect(() => nginxDialect.analyze('server {\n    listen 80;\n    auth_basic_user_file /etc/nginx/users;\n}\n', config)).toThrow(
      `${config}:3: htpasswd file /etc/nginx/users not found (nor users next to the config)`,
    );
  });
});

describe('nginx config trees (/etc/nginx as Debian ships it)', () => {
  const TREE = fileURLToPath(new URL('../../../fixtures/trees/nginx-debian/', import.meta.url));
  const MAIN = join(TREE, 'nginx.conf');
  const rel = (file: string | undefined): string => (file === undefined ? 'nginx.conf' : file.slice(TREE.length));

  it('reads upstreams from conf.d and sites from sites-enabled, each with the file and line it is written in', () => {
    const analysis = nginxDialect.analyze(readFileSync(MAIN, 'utf8'), MAIN);
    expect(analysis.fragment).toBe(false);
    expect(analysis.upstreams.map((u) => `${u.pool} ${u.address} ${rel(u.file)}:${u.line}`)).toEqual([
      'api_backend 10.0.0.11:8080 conf.d/upstreams.conf:3',
      'api_backend 10.0.0.12:8080 conf.d/upstreams.conf:4',
    ]);
    expect(analysis.listeners.map((l) => `${l.port}${l.tls ? ' tls' : ''} [${l.serverNames.join(',')}] ${rel(l.file)}:${l.line}`)).toEqual([
      '80 [api.example.com] sites-enabled/api.example.com:2',
      '443 tls [api.example.com] sites-enabled/api.example.com:9',
      '80 [] sites-enabled/default:22',
    ]);
    expect(analysis.pools).toEqual([{ pool: 'api_backend', passive: { maxFails: 3, failTimeoutMs: 10_000 }, redispatch: true }]);
    expect(analysis.files?.map((f) => `${f.path} <- ${rel(f.foundAt)}`)).toEqual([
      '/etc/nginx/mime.types <- mime.types',
      '/etc/nginx/conf.d/*.conf <- conf.d/upstreams.conf',
      '/etc/nginx/sites-enabled/* <- sites-enabled/api.example.com',
      '/etc/nginx/sites-enabled/* <- sites-enabled/default',
      'snippets/snakeoil.conf <- snippets/snakeoil.conf',
      'proxy_params <- proxy_params',
    ]);
  });

  it('renders every file of the tree in place and points each include at the rendered copies', () => {
    const source = readFileSync(MAIN, 'utf8');
    const analysis = nginxDialect.analyze(source, MAIN);
    const rendered = nginxDialect.render(source, MAIN, analysis, plan(analysis, '/run/lbdrill/t9'));
    expect(Object.keys(rendered.files).sort()).toEqual([
      'files/conf.d/upstreams.conf',
      'files/mime.types',
      'files/proxy_params',
      'files/sites-enabled/api.example.com',
      'files/sites-enabled/default',
      'files/snippets/snakeoil.conf',
      'nginx.conf',
    ]);
    const main = rendered.files['nginx.conf'] as string;
    expect(changedLines(source, main)).toEqual([3, 4, 5, 26, 40, 59, 60]);
    expect(main.split('\n')[58]).toBe('\tinclude /run/lbdrill/t9/files/conf.d/*.conf;');
    expect(main.split('\n')[59]).toBe('\tinclude /run/lbdrill/t9/files/sites-enabled/*;');
    const upstreams = readFileSync(join(TREE, 'conf.d/upstreams.conf'), 'utf8');
    expect(changedLines(upstreams, rendered.files['files/conf.d/upstreams.conf'] as string)).toEqual([3, 4]);
    expect((rendered.files['files/conf.d/upstreams.conf'] as string).split('\n')[2]).toBe('    server 127.0.10.1:41000 max_fails=3 fail_timeout=10s;');
    const snakeoil = readFileSync(join(TREE, 'snippets/snakeoil.conf'), 'utf8');
    expect(changedLines(snakeoil, rendered.files['files/snippets/snakeoil.conf'] as string)).toEqual([4, 5]);
    expect(rendered.files['files/mime.types']).toBe(readFileSync(join(TREE, 'mime.types'), 'utf8'));
    const site = rendered.files['files/sites-enabled/api.example.com'] as string;
    expect(site.split('\n')[11]).toBe('    include /run/lbdrill/t9/files/snippets/snakeoil.conf;');
    expect(site.split('\n')[14]).toBe('        include /run/lbdrill/t9/files/proxy_params;');
    expect(rendered.mapped.filter((m) => m.file !== undefined).map((m) => `${m.kind} ${m.from} -> ${m.to} ${rel(m.file)}:${m.line}`)).toEqual([
      'upstream 10.0.0.11:8080 -> 127.0.10.1:41000 conf.d/upstreams.conf:3',
      'upstream 10.0.0.12:8080 -> 127.0.10.2:41001 conf.d/upstreams.conf:4',
      'listen 80 -> 127.0.0.1:42002 sites-enabled/api.example.com:2',
      'dropped listen [::]:80; ->  sites-enabled/api.example.com:3',
      'listen 443 -> 127.0.0.1:42001 sites-enabled/api.example.com:9',
      'dropped listen [::]:443 ssl; ->  sites-enabled/api.example.com:10',
      'path snippets/snakeoil.conf -> /run/lbdrill/t9/files/snippets/snakeoil.conf sites-enabled/api.example.com:12',
      'path proxy_params -> /run/lbdrill/t9/files/proxy_params sites-enabled/api.example.com:15',
      'certificate /etc/ssl/certs/ssl-cert-snakeoil.pem -> /run/lbdrill/t9/server.crt snippets/snakeoil.conf:4',
      'certificate /etc/ssl/private/ssl-cert-snakeoil.key -> /run/lbdrill/t9/server.key snippets/snakeoil.conf:5',
      'listen 80 -> 127.0.0.1:42002 sites-enabled/default:22',
      'dropped listen [::]:80 default_server; ->  sites-enabled/default:23',
    ]);
  });

  it('an include loop and a missing include are one line naming the including file and line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lbdrill-ngx-tree-'));
    try {
      writeFileSync(join(dir, 'nginx.conf'), 'events {}\nhttp {\n    include conf.d/*.conf;\n}\n');
      mkdirSync(join(dir, 'conf.d'));
      writeFileSync(join(dir, 'conf.d', 'a.conf'), 'upstream a { server 10.0.0.1:80; }\ninclude conf.d/a.conf;\n');
      const main = join(dir, 'nginx.conf');
      expect(() => nginxDialect.analyze(readFileSync(main, 'utf8'), main)).toThrow(`${join(dir, 'conf.d', 'a.conf')}:2: include conf.d/a.conf includes itself (directly or through other files)`);
      writeFileSync(join(dir, 'conf.d', 'a.conf'), 'upstream a { server 10.0.0.1:80; }\ninclude /etc/nginx/lbdrill-nowhere.conf;\n');
      expect(() => nginxDialect.analyze(readFileSync(main, 'utf8'), main)).toThrow(`${join(dir, 'conf.d', 'a.conf')}:2: include file /etc/nginx/lbdrill-nowhere.conf not found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('nginx 1.22 accepts the rendered tree and proxies through the conf.d upstream', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lbdrill-ngx-tree-run-'));
    chmodSync(dir, 0o755);
    const backend = await startBackend('127.0.0.1');
    try {
      const run = await runConfig('nginx', MAIN, join(dir, 'run'), new Map([['10.0.0.11:8080', backend.address], ['10.0.0.12:8080', backend.address]]));
      try {
        const tlsPort = Number(run.rendered.mapped.find((m) => m.kind === 'listen' && m.from === '443')?.to.split(':')[1]);
        expect((await get(run.port, '/x', false, 'api.example.com')).headers.location).toBe('https://api.example.com/x');
        const reply = await get(tlsPort, '/via-conf.d', true, 'api.example.com');
        expect(reply.status).toBe(200);
        expect(backend.paths).toContain('/via-conf.d');
      } finally {
        await run.stop();
      }
    } finally {
      await new Promise((r) => backend.server.close(r));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('nginx modules of a Debian tree', () => {
  it("load_module modules/x.so is Debian's prefix's, not the run dir's (-p)", () => {
    const source = 'load_module modules/ngx_stream_module.so;\nevents {}\nhttp { server { listen 80; location / { proxy_pass http://10.0.0.1:80; } } }\n';
    const analysis = nginxDialect.analyze(source, '/tmp/lbdrill-none/nginx.conf');
    const rendered = nginxDialect.render(source, '/tmp/lbdrill-none/nginx.conf', analysis, plan(analysis));
    expect((rendered.files['nginx.conf'] as string).split('\n')[0]).toBe('load_module /usr/share/nginx/modules/ngx_stream_module.so;');
  });
});
