import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLbdrillError } from '../../errors.ts';
import { apacheDialect, apacheTimeoutMs } from './apache-config.ts';
import type { ConfigAnalysis, ListenerRef, RenderPlan } from '../config-plan.ts';
import { changedLines, freePort, get, makeCertificate, runConfig, startBackend, startProxy, type Backend } from '../live-proxy-kit.ts';

/** Listeners without their client limits (client-limits.test.ts reads those). */
function withoutLimits(listeners: readonly ListenerRef[]): Array<Omit<ListenerRef, 'limits'>> {
  return listeners.map(({ limits, ...rest }) => rest);
}

const SHAKENFIST = '/work/shared/real-configs/shakenfist/apache-loadbalancer.conf';

function plan(analysis: ConfigAnalysis, runDir = '/run/lbdrill/t3'): RenderPlan {
  const addresses = [...new Set(analysis.upstreams.map((u) => u.address))];
  return {
    runDir,
    upstreams: new Map(addresses.map((a, i) => [a, `127.0.12.${i + 1}:${45000 + i}`])),
    ports: new Map([...new Set(analysis.listeners.map((l) => l.port))].map((p, i) => [p, 46000 + i])),
    tls: { certFile: `${runDir}/server.crt`, keyFile: `${runDir}/server.key`, pemFile: `${runDir}/server.pem` },
  };
}


function renderBoth(source: string, p?: Partial<RenderPlan>): { site: string; main: string; mapped: ReturnType<typeof apacheDialect.render>['mapped'] } {
  const analysis = apacheDialect.analyze(source, 'site.conf');
  const rendered = apacheDialect.render(source, 'site.conf', analysis, { ...plan(analysis), ...p });
  expect(rendered.main).toBe('apache2.conf');
  expect(rendered.source).toBe('site.conf');
  return { site: rendered.files['site.conf'] as string, main: rendered.files['apache2.conf'] as string, mapped: rendered.mapped };
}

function parseFails(source: string): string {
  try {
    apacheDialect.analyze(source, 'site.conf');
  } catch (err) {
    expect(isLbdrillError(err, 'LBDRILL_ERR_CONFIG_PARSE')).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected a parse error');
}

describe('apacheDialect.analyze', () => {
  it('reads the published shakenfist vhosts: balancer sfapi, *:80 plain and *:443 with SSLEngine on', () => {
    const analysis = apacheDialect.analyze(readFileSync(SHAKENFIST, 'utf8'), SHAKENFIST);
    expect(analysis.fragment).toBe(true);
    expect(analysis.upstreams).toEqual([
      { pool: 'sfapi', name: '10.0.0.1:13000', address: '10.0.0.1:13000', line: 60, backup: false },
      { pool: 'sfapi', name: '10.0.0.2:13000', address: '10.0.0.2:13000', line: 61, backup: false },
    ]);
    expect(withoutLimits(analysis.listeners)).toEqual([
      { spec: '*:80', port: 80, tls: false, serverNames: ['sf.example.com'], line: 33 },
      // its SSLProtocol line is a comment: the TLS library's defaults decide
      { spec: '*:443', port: 443, tls: true, serverNames: ['sf.example.com'], line: 39 },
    ]);
    // ProxyTimeout 3600 in the vhost, over Debian's Timeout 300
    expect(analysis.pools).toEqual([{ pool: 'sfapi', passive: { maxFails: 1, failTimeoutMs: 60_000 }, redispatch: true, tunnelTimeoutMs: 3_600_000 }]);
  });

  it('finds hot standbys, explicit balancer members, literal ProxyPass and [P] rewrites', () => {
    const source = [
      '<Proxy balancer://api/>',
      '    BalancerMember http://10.0.0.1:8080 route=a',
      '    BalancerMember "http://10.0.0.2:8080" status=+H',
      '    BalancerMember http://10.0.0.3 status=+H-H',
      '</Proxy>',
      'BalancerMember balancer://other https://10.0.1.1 loadfactor=2',
      '<VirtualHost *:8080>',
      '    ServerName api.example.com:8080',
      '    ServerAlias www.api.example.com *.api.example.com',
      '    ProxyPass /legacy http://192.168.1.5:9000/v1 retry=0',
      '    ProxyPassReverse /legacy http://192.168.1.5:9000/v1',
      '    ProxyPass /b !',
      '    RewriteRule ^/r/(.*)$ http://192.168.1.6/$1 [P,L]',
      '    RewriteRule ^/x$ https://elsewhere.example.com/ [R=301,L]',
      '    <Location /loc>',
      '        ProxyPass http://192.168.1.7:7000/',
      '    </Location>',
      '</VirtualHost>',
    ].join('\n');
    const analysis = apacheDialect.analyze(source, 'site.conf');
    expect(analysis.upstreams.map((u) => [u.pool, u.address, u.backup, u.line])).toEqual([
      ['api', '10.0.0.1:8080', false, 2],
      ['api', '10.0.0.2:8080', true, 3],
      ['api', '10.0.0.3:80', false, 4],
      ['other', '10.0.1.1:443', false, 6],
      ['192.168.1.5:9000', '192.168.1.5:9000', false, 10],
      ['192.168.1.6:80', '192.168.1.6:80', false, 13],
      ['192.168.1.7:7000', '192.168.1.7:7000', false, 16],
    ]);
    expect(withoutLimits(analysis.listeners)).toEqual([{ spec: '*:8080', port: 8080, tls: false, serverNames: ['api.example.com', 'www.api.example.com'], line: 7 }]);
  });

  it('drops Listen [::]:P next to Listen P, and keeps a Listen no vhost covers', () => {
    const source = ['Listen 80', 'Listen [::]:80', 'Listen 8443 https', 'SSLEngine on', '<VirtualHost *:80>', '</VirtualHost>'].join('\n');
    const analysis = apacheDialect.analyze(source, 'site.conf');
    expect(withoutLimits(analysis.listeners)).toEqual([
      { spec: '8443', port: 8443, tls: true, serverNames: [], line: 3 },
      { spec: '*:80', port: 80, tls: false, serverNames: [], line: 5 },
    ]);
  });

  it('succeeds with no upstreams, and reports unreadable structure as file:line', () => {
    expect(apacheDialect.analyze('<VirtualHost *:80>\n  DocumentRoot /var/www/html\n</VirtualHost>\n', 'site.conf').upstreams).toEqual([]);
    expect(parseFails('<VirtualHost *:80>\n  ServerName a\n')).toBe('site.conf:1: <VirtualHost> was not closed');
    expect(parseFails('<VirtualHost *:80>\n<Proxy balancer://x>\n</VirtualHost>\n')).toBe('site.conf:3: </VirtualHost> without matching <VirtualHost> section');
    expect(parseFails('<VirtualHost *:80\n</VirtualHost>\n')).toBe("site.conf:1: <VirtualHost directive missing closing '>'");
    expect(parseFails('Header set X "open\n')).toBe('site.conf:1: unterminated quoted string');
  });
});

describe('apacheDialect: members spoken to over TLS', () => {
  it('marks https:// and wss:// members and targets', () => {
    const source = ['<Proxy balancer://app>', '    BalancerMember https://10.0.0.1:443', '    BalancerMember http://10.0.0.2:80', '</Proxy>', 'ProxyPass /app/ balancer://app/', 'ProxyPass /ws/ wss://10.0.0.3:8443/', 'ProxyPass /plain/ http://10.0.0.4:8080/'].join('\n');
    expect(apacheDialect.analyze(source, 'site.conf').upstreams.map((u) => `${u.address} ${u.tls ?? false}`)).toEqual(['10.0.0.1:443 true', '10.0.0.2:80 false', '10.0.0.3:8443 true', '10.0.0.4:8080 false']);
  });
});

describe('apacheDialect.render', () => {
  it('changes only the mapped spans of the shakenfist file and wraps it in a Debian-like main config', () => {
    const source = readFileSync(SHAKENFIST, 'utf8');
    const analysis = apacheDialect.analyze(source, SHAKENFIST);
    const rendered = apacheDialect.render(source, SHAKENFIST, analysis, plan(analysis));
    const site = rendered.files['site.conf'] as string;
    expect(changedLines(source, site)).toEqual([33, 39, 51, 52, 60, 61]);
    const lines = site.split('\n');
    expect(lines[32]).toBe('<VirtualHost 127.0.0.1:46000>');
    expect(lines[38]).toBe('<VirtualHost 127.0.0.1:46001>');
    expect(lines[44]).toBe('    ErrorLog ${APACHE_LOG_DIR}/error.log');
    expect(lines[50]).toBe('    SSLCertificateFile    /run/lbdrill/t3/server.crt');
    expect(lines[51]).toBe('    SSLCertificateKeyFile /run/lbdrill/t3/server.key');
    expect(lines[59]).toBe('        BalancerMember "http://127.0.12.1:45000"');
    expect(rendered.mapped.map((m) => `${m.kind} ${m.from}`)).toEqual([
      'listen *:80',
      'listen *:443',
      'variable ${APACHE_LOG_DIR}',
      'certificate /etc/ssl/certs/sf.example.com.crt',
      'certificate /etc/ssl/private/sf.example.com.key',
      'upstream 10.0.0.1:13000',
      'upstream 10.0.0.2:13000',
      `wrap ${SHAKENFIST}`,
    ]);
    const main = rendered.files['apache2.conf'] as string;
    expect(main).toContain('Define APACHE_LOG_DIR /run/lbdrill/t3\n');
    expect(main).toContain('Listen 127.0.0.1:46000\nListen 127.0.0.1:46001\nInclude /run/lbdrill/t3/site.conf\n');
    expect(main).toContain('PidFile /run/lbdrill/t3/apache2.pid\n');
    expect(main).toMatch(/^LoadModule proxy_balancer_module \/usr\/lib\/apache2\/modules\/mod_proxy_balancer\.so$/m);
    // Built into Debian's apache2: LoadModule would only warn, so it is not named.
    expect(main).not.toMatch(/LoadModule (watchdog|log_config|unixd)_module/);
  });

  it('rewrites the user Listen instead of adding one, drops the IPv6 twin, turns a piped log into a run-dir file, keeps variables and quotes', () => {
    const source = [
      'Listen 443 https',
      'Listen [::]:443 https',
      '<VirtualHost *:443 [::]:443>',
      '    SSLEngine on',
      '    SSLCertificateFile "/etc/ssl/both.pem"',
      '    SSLCACertificatePath /etc/ssl/certs',
      '    SSLCARevocationFile \\',
      '        /etc/ssl/crl.pem',
      '    ErrorLog "|/usr/bin/rotatelogs /var/log/apache2/err.%Y 86400"',
      '    CustomLog /var/log/apache2/api_access.log combined',
      '    CustomLog ${APACHE_LOG_DIR}/other.log "%h %r"',
      '    SSLSessionCache shmcb:/var/run/apache2/ssl_cache(512000)',
      '    ProxyPass /api http://10.0.0.1:8080/api',
      '    ProxyPassReverse /api http://10.0.0.1:8080/api',
      '</VirtualHost>',
    ].join('\n');
    const { site, main, mapped } = renderBoth(source);
    expect(site.split('\n')).toEqual([
      'Listen 127.0.0.1:46000 https',
      '# lbdrill dropped: Listen [::]:443 https',
      '<VirtualHost 127.0.0.1:46000>',
      '    SSLEngine on',
      '    SSLCertificateFile "/run/lbdrill/t3/server.pem"',
      '    # lbdrill dropped: SSLCACertificatePath /etc/ssl/certs',
      '    # lbdrill dropped: SSLCARevocationFile \\',
      '#         /etc/ssl/crl.pem',
      '    ErrorLog "/run/lbdrill/t3/error.log"',
      '    CustomLog /run/lbdrill/t3/api_access.log combined',
      '    CustomLog ${APACHE_LOG_DIR}/other.log "%h %r"',
      '    SSLSessionCache shmcb:/run/lbdrill/t3/ssl_cache(512000)',
      '    ProxyPass /api http://127.0.12.1:45000/api',
      '    ProxyPassReverse /api http://127.0.12.1:45000/api',
      '</VirtualHost>',
    ]);
    expect(main).not.toMatch(/^Listen /m);
    expect(mapped.filter((m) => m.kind === 'dropped').map((m) => m.line)).toEqual([2, 6, 7]);
  });
});

describe('apacheDialect: what bindings need (load factors, routes, the sticky cookie, checks, TLS versions, tunnel timeouts)', () => {
  const SOURCE = [
    'SSLProtocol all -SSLv3 -TLSv1 -TLSv1.1',
    'Timeout 30',
    'ProxyHCExpr ok234 {%{REQUEST_STATUS} =~ /^[234]/}',
    'ProxyHCExpr below400 {%{REQUEST_STATUS} -ge 200 && %{REQUEST_STATUS} -lt 400}',
    'ProxyHCExpr in_maint {hc(\'body\') !~ /Under maintenance/}',
    '<VirtualHost *:443>',
    '    SSLEngine on',
    '    ProxyTimeout 90',
    '    Header add Set-Cookie "ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/" env=BALANCER_ROUTE_CHANGED',
    '    <Proxy balancer://app>',
    '        BalancerMember http://10.0.0.1:8080 route=node1 loadfactor=3 hcmethod=HEAD hcuri=/login.php hcexpr=ok234 timeout=600',
    '        BalancerMember http://10.0.0.2:8080 route=node2 loadfactor=1 hcmethod=HEAD hcuri=/login.php hcexpr=ok234',
    '        ProxySet stickysession=ROUTEID',
    '    </Proxy>',
    '    <Proxy balancer://java>',
    '        BalancerMember http://10.0.1.1:8080 route=j1 hcmethod=GET11 hcexpr=below400',
    '        BalancerMember http://10.0.1.2:8080 route=j2 hcmethod=GET11 hcexpr=below400',
    '    </Proxy>',
    '    ProxyPass /java balancer://java stickysession=JSESSIONID|jsessionid',
    '    ProxyPass / balancer://app/',
    '</VirtualHost>',
    '<VirtualHost *:8443>',
    '    SSLEngine on',
    '    SSLProtocol -all +TLSv1.3',
    '    <Proxy balancer://maint>',
    '        BalancerMember http://10.0.2.1 hcmethod=GET hcexpr=in_maint',
    '        BalancerMember http://10.0.2.2 hcmethod=GET hcexpr=in_maint',
    '    </Proxy>',
    '    ProxyPass / balancer://maint/',
    '</VirtualHost>',
    '<VirtualHost *:80>',
    '</VirtualHost>',
  ].join('\n');
  const analysis = apacheDialect.analyze(SOURCE, 'site.conf');

  it('gives each member its loadfactor= as weight and its route= as cookie value', () => {
    expect(analysis.upstreams.map((u) => [u.address, u.weight, u.cookieValue])).toEqual([
      ['10.0.0.1:8080', 3, 'node1'],
      ['10.0.0.2:8080', 1, 'node2'],
      ['10.0.1.1:8080', undefined, 'j1'],
      ['10.0.1.2:8080', undefined, 'j2'],
      ['10.0.2.1:80', undefined, undefined],
      ['10.0.2.2:80', undefined, undefined],
    ]);
  });

  it('reads stickysession=NAME: inserted when the config sets the cookie itself (Header add Set-Cookie), else honoured; NAME|param takes the cookie name', () => {
    expect(analysis.pools?.map((p) => [p.pool, p.cookie])).toEqual([
      ['app', { name: 'ROUTEID', mode: 'insert', indirect: false, at: { text: 'ProxySet stickysession=ROUTEID', line: 13 } }],
      ['java', { name: 'JSESSIONID', mode: 'honour', indirect: false, at: { text: 'ProxyPass /java balancer://java stickysession=JSESSIONID|jsessionid', line: 19 } }],
      ['maint', undefined],
    ]);
  });

  it('reads hcmethod, hcuri and the statuses a ProxyHCExpr accepts; an expression on the body is shown by at', () => {
    const checks = { intervalMs: 30_000, fall: 1, rise: 1 };
    expect(analysis.pools?.map((p) => [p.pool, p.active])).toEqual([
      ['app', { method: 'HEAD', path: '/login.php', expectStatus: { min: 200, max: 499 }, ...checks, at: { text: 'BalancerMember http://10.0.0.1:8080 route=node1 loadfactor=3 hcmethod=HEAD hcuri=/login.php hcexpr=ok234 timeout=600', line: 11 } }],
      // GET11 is GET over HTTP/1.1
      ['java', { method: 'GET', path: '/', expectStatus: { min: 200, max: 399 }, ...checks, at: { text: 'BalancerMember http://10.0.1.1:8080 route=j1 hcmethod=GET11 hcexpr=below400', line: 16 } }],
      ['maint', { method: 'GET', path: '/', ...checks, at: { text: "ProxyHCExpr in_maint {hc('body') !~ /Under maintenance/}", line: 5 } }],
    ]);
  });

  it('gives a pool the longest tunnel its members get: max(Timeout, timeout= else ProxyTimeout)', () => {
    // app: member timeout=600 over Timeout 30; java: ProxyTimeout 90; maint: Timeout 30 from the server config
    expect(analysis.pools?.map((p) => [p.pool, p.tunnelTimeoutMs])).toEqual([
      ['app', 600_000],
      ['java', 90_000],
      ['maint', 30_000],
    ]);
  });

  it('gives a pool proxied to by address the tunnel timeout its ProxyPass or scope writes, and says nothing when none is written', () => {
    const source = [
      '<VirtualHost *:80>',
      '    ProxyPass /ws/ ws://127.0.0.1:8000/ws/ timeout=3600 upgrade=websocket',
      '    ProxyPass /api/ http://127.0.0.1:9000/',
      '</VirtualHost>',
      '<VirtualHost *:8080>',
      '    ProxyTimeout 120',
      '    ProxyPass / http://127.0.0.1:9100/',
      '</VirtualHost>',
    ].join('\n');
    expect(apacheDialect.analyze(source, 'site.conf').pools).toEqual([
      { pool: '127.0.0.1:8000', tunnelTimeoutMs: 3_600_000 },
      // ProxyTimeout 120 under Debian's Timeout 300
      { pool: '127.0.0.1:9100', tunnelTimeoutMs: 300_000 },
    ]);
  });

  it("says where a TLS vhost's versions come from: its SSLProtocol, else the server config's", () => {
    expect(analysis.listeners.map((l) => [l.port, l.tlsProtocols])).toEqual([
      [443, { text: 'SSLProtocol all -SSLv3 -TLSv1 -TLSv1.1', line: 1 }],
      [8443, { text: 'SSLProtocol -all +TLSv1.3', line: 24 }],
      [80, undefined],
    ]);
  });
});

describe('apacheDialect health and failover settings', () => {
  const SOURCE = [
    '<VirtualHost *:80>',
    '    ProxyHCTemplate quick hcmethod=HEAD hcuri=/ping hcinterval=2500ms hcfails=2',
    '    ProxyHCTemplate slow hcmethod=GET',
    '    <Proxy "balancer://api">',
    '        BalancerMember http://10.0.0.1:8080/app hcmethod=GET hcuri=/health hcinterval=5 hcfails=3 hcpasses=2 retry=10',
    '        BalancerMember http://10.0.0.2:8080/app hcmethod=GET hcuri=/health hcinterval=5 hcfails=3 hcpasses=2',
    '        BalancerMember http://10.0.0.3:8080/app status=+H',
    '        ProxySet lbmethod=byrequests failonstatus=502,503,504',
    '    </Proxy>',
    '    <Proxy balancer://tpl>',
    '        BalancerMember http://10.0.1.1 hctemplate=quick hcpasses=4 retry=500ms',
    '        BalancerMember http://10.0.1.2 hctemplate=slow',
    '    </Proxy>',
    '    <Proxy balancer://plain>',
    '        BalancerMember http://10.0.2.1 hcmethod=TCP',
    '        BalancerMember http://10.0.2.2 hcmethod=TCP',
    '    </Proxy>',
    '    ProxySet balancer://plain nofailover=On',
    '    ProxyPass /tpl balancer://tpl',
    '    ProxyPass /plain balancer://plain',
    '    ProxyPass /legacy http://192.168.1.5:9000/v1 retry=0',
    '    ProxyPass / balancer://api/',
    '</VirtualHost>',
  ].join('\n');

  it('reads mod_proxy_hcheck checks (members and templates), retry= and failover per balancer, with Apache\'s defaults', () => {
    expect(apacheDialect.analyze(SOURCE, 'site.conf').pools).toEqual([
      {
        pool: 'api',
        active: { method: 'GET', path: '/app/health', intervalMs: 5000, fall: 3, rise: 2, at: { text: 'BalancerMember http://10.0.0.1:8080/app hcmethod=GET hcuri=/health hcinterval=5 hcfails=3 hcpasses=2 retry=10', line: 5 } },
        passive: { maxFails: 1, failTimeoutMs: 10_000 },
        redispatch: true,
      },
      {
        pool: 'tpl',
        // the method comes from the template: that is where the check is configured
        active: { method: 'HEAD', path: '/ping', intervalMs: 2500, fall: 2, rise: 4, at: { text: 'ProxyHCTemplate quick hcmethod=HEAD hcuri=/ping hcinterval=2500ms hcfails=2', line: 2 } },
        // retry= is read with atoi(): "500ms" is 500 seconds to Apache.
        passive: { maxFails: 1, failTimeoutMs: 500_000 },
        redispatch: true,
      },
      // hcmethod=TCP: a connect, no method or path
      { pool: 'plain', active: { intervalMs: 30_000, fall: 1, rise: 1, at: { text: 'BalancerMember http://10.0.2.1 hcmethod=TCP', line: 15 } }, passive: { maxFails: 1, failTimeoutMs: 60_000 } },
    ]);
  });

  it('reads Apache timeouts as ap_timeout_parameter_parse does: ms, s, mi, h; bare digits are seconds', () => {
    expect(['5', '500ms', '5s', '2mi', '1h'].map(apacheTimeoutMs)).toEqual([5000, 500, 5000, 120_000, 3_600_000]);
    expect(['2m', '0.5', '', '5 s'].map(apacheTimeoutMs)).toEqual([null, null, null, null]);
  });

  it('scales hcinterval in milliseconds (100 ms floor) and retry in whole seconds (rounded up), writing the scaled defaults', () => {
    const analysis = apacheDialect.analyze(SOURCE, 'site.conf');
    expect(renderBoth(SOURCE, { timeScale: 1 }).mapped.filter((m) => m.kind === 'timing')).toEqual([]);
    const { site, mapped } = renderBoth(SOURCE, { timeScale: 0.1 });
    expect(analysis.upstreams).toHaveLength(8);
    const lines = site.split('\n');
    expect(lines.length).toBe(SOURCE.split('\n').length);
    expect(lines[1]).toBe('    ProxyHCTemplate quick hcmethod=HEAD hcuri=/ping hcinterval=250ms hcfails=2');
    expect(lines[2]).toBe('    ProxyHCTemplate slow hcmethod=GET hcinterval=3s');
    expect(lines[4]).toBe('        BalancerMember http://127.0.12.1:45000/app hcmethod=GET hcuri=/health hcinterval=500ms hcfails=3 hcpasses=2 retry=1');
    expect(lines[5]).toBe('        BalancerMember http://127.0.12.2:45001/app hcmethod=GET hcuri=/health hcinterval=500ms hcfails=3 hcpasses=2 retry=6');
    expect(lines[6]).toBe('        BalancerMember http://127.0.12.3:45002/app status=+H retry=6');
    expect(lines[10]).toBe('        BalancerMember http://127.0.12.4:45003 hctemplate=quick hcpasses=4 retry=50');
    expect(lines[14]).toBe('        BalancerMember http://127.0.12.6:45005 hcmethod=TCP retry=6 hcinterval=3s');
    expect(lines[20]).toBe('    ProxyPass /legacy http://127.0.12.8:45007/v1 retry=0');
    expect(mapped.filter((m) => m.kind === 'timing' && (m.line ?? 0) <= 12).map((m) => `${m.from} -> ${m.to} @${m.line}`)).toEqual([
      'hcinterval=2500ms -> hcinterval=250ms @2',
      'hcinterval=30 (default) -> hcinterval=3s @3',
      'hcinterval=5 -> hcinterval=500ms @5',
      'retry=10 -> retry=1 @5',
      'hcinterval=5 -> hcinterval=500ms @6',
      'retry=60 (default) -> retry=6 @6',
      'retry=60 (default) -> retry=6 @7',
      'retry=500ms -> retry=50 @11',
      'retry=60 (default) -> retry=6 @12',
    ]);

    const tight = '<Proxy balancer://b>\n    BalancerMember http://10.0.0.1 hcmethod=GET hcinterval=500ms retry=5\n</Proxy>';
    expect(renderBoth(tight, { timeScale: 0.1 }).mapped.filter((m) => m.kind === 'timing').map((m) => m.to)).toEqual([
      "hcinterval=100ms (50 ms raised to mod_proxy_hcheck's 100 ms minimum)",
      'retry=1 (0.5 s rounded up: Apache reads retry= in whole seconds)',
    ]);
  });
});

// ---- the published file under the real Apache ----



describe('the published shakenfist file under Apache 2.4', () => {
  let dir: string;
  const backends: Backend[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lbdrill-apache-'));
    chmodSync(dir, 0o755);
    backends.push(await startBackend('127.0.0.1'), await startBackend('127.0.0.1'));
  });
  afterAll(async () => {
    for (const b of backends) await new Promise((r) => b.server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('apache2 -t accepts it, and it proxies /api over TLS and redirects plain HTTP', async () => {
    const source = readFileSync(SHAKENFIST, 'utf8');
    const analysis = apacheDialect.analyze(source, SHAKENFIST);
    const ports = new Map<number, number>();
    for (const l of analysis.listeners) if (!ports.has(l.port)) ports.set(l.port, await freePort());
    const rendered = apacheDialect.render(source, SHAKENFIST, analysis, {
      runDir: dir,
      upstreams: new Map(analysis.upstreams.map((u, i) => [u.address, (backends[i] as Backend).address])),
      ports,
      tls: makeCertificate(dir),
    });
    for (const [name, text] of Object.entries(rendered.files)) writeFileSync(join(dir, name), text);
    // No APACHE_* environment: the generated Defines must be enough.
    const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
    const checked = spawnSync('apache2', ['-t', '-d', '/etc/apache2', '-f', join(dir, 'apache2.conf')], { encoding: 'utf8', env });
    expect(checked.stdout + checked.stderr).toContain('Syntax OK');
    expect(checked.status).toBe(0);

    const tlsPort = ports.get(443) as number;
    const proxy = await startProxy('apache2', ['-d', '/etc/apache2', '-f', join(dir, 'apache2.conf'), '-DFOREGROUND'], tlsPort, env);
    try {
      const reply = await get(tlsPort, '/api/auth/namespaces', true, 'sf.example.com');
      expect(reply.status).toBe(200);
      expect(reply.body).toMatch(/^backend /);
      const docs = await get(tlsPort, '/apidocs/', true, 'sf.example.com');
      expect(docs.status).toBe(200);
      expect(backends.flatMap((b) => b.paths).sort()).toEqual(['/apidocs/', '/auth/namespaces']);
      const redirect = await get(ports.get(80) as number, '/api/x', false, 'sf.example.com');
      expect(redirect.status).toBe(301);
      expect(redirect.headers.location).toBe('https://sf.example.com/api/x');
    } finally {
      await proxy.stop();
    }
    expect(readFileSync(join(dir, 'access.log'), 'utf8')).toContain('GET /api/auth/namespaces');
  });
});

describe('apache companion files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbdrill-ap-companions-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, '.htpasswd'), 'vip:$apr1$x$y\n');
  writeFileSync(join(dir, 'groups'), 'vip: vip\n');
  writeFileSync(join(dir, 'nodes.map'), 'node-a master1\n');
  const source = [
    '<VirtualHost *:80>',
    '    IncludeOptional /etc/apache2/lbdrill-absent.conf',
    '    RewriteEngine On',
    '    RewriteMap nodes "txt:/etc/apache2/nodes.map"',
    '    RewriteMap lc int:tolower',
    '    RewriteRule "^/(.*)$" "http://10.0.0.1:8080/$1" [P]',
    '    <Location />',
    '        AuthType Basic',
    '        AuthUserFile /etc/apache2/.htpasswd',
    '        AuthGroupFile groups',
    '    </Location>',
    '</VirtualHost>',
  ].join('\n');

  it('copies password, group and txt: map files; skips an absent IncludeOptional and int: maps', () => {
    const config = join(dir, 'site.conf');
    const analysis = apacheDialect.analyze(source, config);
    expect(analysis.files?.map((f) => `${f.kind} ${f.path} @${f.line} <- ${f.foundAt.slice(dir.length)}`)).toEqual([
      'map /etc/apache2/nodes.map @4 <- /nodes.map',
      'htpasswd /etc/apache2/.htpasswd @9 <- /.htpasswd',
      'groups groups @10 <- /groups',
    ]);
    const rendered = apacheDialect.render(source, config, analysis, plan(analysis, '/run/lbdrill/c3'));
    const site = rendered.files['site.conf'] as string;
    expect(changedLines(source, site)).toEqual([1, 4, 6, 9, 10]);
    expect(site.split('\n')[3]).toBe('    RewriteMap nodes "txt:/run/lbdrill/c3/files/nodes.map"');
    expect(site.split('\n')[8]).toBe('        AuthUserFile /run/lbdrill/c3/files/.htpasswd');
    expect(site.split('\n')[9]).toBe('        AuthGroupFile /run/lbdrill/c3/files/groups');
    expect(Object.keys(rendered.files).sort()).toEqual(['apache2.conf', 'files/.htpasswd', 'files/groups', 'files/nodes.map', 'site.conf']);
  });

  it('a missing password file is one line naming the file and the config line', () => {
    const config = join(dir, 'nested', 'site.conf');
    expect(() => apacheDialect.analyze('<Location />\n    AuthUserFile /etc/apache2/users\n</Location>\n', config)).toThrow(
      `${config}:2: htpasswd file /etc/apache2/users not found (nor users next to the config)`,
    );
  });
});

describe('Apache config trees', () => {
  const TREES = fileURLToPath(new URL('../../../fixtures/trees/', import.meta.url));
  const DEBIAN = join(TREES, 'apache-debian', 'apache2.conf');
  const IMAGE = join(TREES, 'apache-httpd-image', 'conf', 'httpd.conf');
  const rel = (file: string | undefined): string => (file === undefined ? '(main)' : file.slice(TREES.length));
  const read = (file: string): { source: string; analysis: ConfigAnalysis } => {
    const source = readFileSync(file, 'utf8');
    return { source, analysis: apacheDialect.analyze(source, file) };
  };

  it("Debian's /etc/apache2: mods-enabled, ports.conf, conf-enabled and sites-enabled are read, the balancer found in its site", () => {
    const { analysis } = read(DEBIAN);
    expect(analysis.upstreams.map((u) => `${u.pool} ${u.address} ${rel(u.file)}:${u.line}`)).toEqual([
      'api 10.0.0.31:8080 apache-debian/sites-enabled/api.example.com.conf:6',
      'api 10.0.0.32:8080 apache-debian/sites-enabled/api.example.com.conf:7',
    ]);
    expect(analysis.listeners.filter((l) => l.port === 80).map((l) => `${l.spec} [${l.serverNames.join(',')}] ${rel(l.file)}:${l.line}`)).toEqual([
      '*:80 [] apache-debian/sites-enabled/000-default.conf:1',
      '*:80 [api.example.com] apache-debian/sites-enabled/api.example.com.conf:1',
    ]);
    const included = new Set(analysis.files?.filter((f) => f.kind === 'include').map((f) => f.path));
    expect([...included]).toEqual(['mods-enabled/*.load', 'mods-enabled/*.conf', 'ports.conf', 'conf-enabled/*.conf', 'sites-enabled/*.conf']);
  });

  it('the httpd image layout: ServerRoot /usr/local/apache2, modules/mod_x.so and relative Includes, in place', () => {
    const { source, analysis } = read(IMAGE);
    expect(analysis.upstreams.map((u) => `${u.pool} ${u.address} ${rel(u.file)}:${u.line}`)).toEqual([
      'apicluster api-1:8080 apache-httpd-image/conf/sites/api.conf:5',
      'apicluster api-2:8080 apache-httpd-image/conf/sites/api.conf:6',
    ]);
    const rendered = apacheDialect.render(source, IMAGE, analysis, plan(analysis));
    const site = rendered.files['site.conf'] as string;
    const lines = site.split('\n');
    expect(lines.length).toBe(source.split('\n').length);
    expect(lines[3]).toBe('ServerRoot "/run/lbdrill/t3/files"');
    expect(lines[6]).toBe('LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so');
    expect(lines[9]).toBe('# lbdrill dropped: LoadModule log_config_module modules/mod_log_config.so');
    expect(lines[30]).toBe('ErrorLog /run/lbdrill/t3/error.log');
    expect(lines[35]).toBe('TypesConfig /etc/mime.types');
    expect(lines[37]).toBe('Include /run/lbdrill/t3/files/conf/extra/proxy-defaults.conf');
    expect(lines[38]).toBe('IncludeOptional /run/lbdrill/t3/files/conf/sites/*.conf');
    const vhost = rendered.files['files/conf/sites/api.conf'] as string;
    expect(vhost.split('\n')[4]).toBe('        BalancerMember "http://127.0.12.1:45000" route=node1');
    // compiled into Debian's apache2: loading them again is an error there
    expect(rendered.mapped.filter((m) => m.kind === 'dropped').map((m) => m.from)).toEqual([
      'LoadModule log_config_module modules/mod_log_config.so',
      'LoadModule unixd_module modules/mod_unixd.so',
    ]);
  });

  it('a module Debian does not ship is one line naming the file and line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lbdrill-apache-module-'));
    try {
      const file = join(dir, 'httpd.conf');
      writeFileSync(file, 'ServerRoot "/usr/local/apache2"\nLoadModule evasive20_module modules/mod_evasive20.so\nListen 80\nProxyPass / http://10.0.0.1:8080/\n');
      expect(() => apacheDialect.analyze(readFileSync(file, 'utf8'), file)).toThrow(
        `${file}:2: LoadModule evasive20_module modules/mod_evasive20.so: Debian's apache2 has no mod_evasive20.so (looked in /usr/lib/apache2/modules/)`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('under Apache 2.4', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lbdrill-apache-trees-'));
    chmodSync(dir, 0o755);
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    for (const [name, file, host] of [
      ['the Debian tree', DEBIAN, 'api.example.com'],
      ['the httpd image tree', IMAGE, 'api.example.com'],
    ] as const) {
      it(`${name} passes apache2 -t and proxies to its balancer`, async () => {
        const backend = await startBackend('127.0.0.1');
        try {
          const { analysis } = read(file);
          const run = await runConfig('apache', file, join(dir, name.replace(/\W+/g, '-')), new Map(analysis.upstreams.map((u) => [u.address, backend.address])));
          try {
            const path = file === IMAGE ? '/api/x' : '/x';
            expect((await get(run.port, path, false, host)).status).toBe(200);
            expect(backend.paths).toContain('/x');
          } finally {
            await run.stop();
          }
        } finally {
          await new Promise((r) => backend.server.close(r));
        }
      });
    }

    it('a whole httpd.conf without mod_mime, and with no file to copy, runs (generated defaults need mod_mime; ServerRoot must exist)', async () => {
      const file = join(dir, 'bare-httpd.conf');
      writeFileSync(file, ['ServerRoot "/usr/local/apache2"', 'LoadModule mpm_event_module modules/mod_mpm_event.so', 'LoadModule authz_core_module modules/mod_authz_core.so', 'LoadModule proxy_module modules/mod_proxy.so', 'LoadModule proxy_http_module modules/mod_proxy_http.so', 'Listen 80', 'ProxyPass / http://10.0.0.1:8080/', ''].join('\n'));
      const backend = await startBackend('127.0.0.1');
      try {
        const run = await runConfig('apache', file, join(dir, 'bare'), new Map([['10.0.0.1:8080', backend.address]]));
        try {
          expect((await get(run.port, '/x', false, 'localhost')).status).toBe(200);
        } finally {
          await run.stop();
        }
      } finally {
        await new Promise((r) => backend.server.close(r));
      }
    });
  });
});
