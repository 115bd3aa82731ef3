import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../paths.ts';
import type { ClientLimits } from './config-plan.ts';
import { TARGETS } from './registry.ts';
import type { TargetName } from './target-kind.ts';

/** The limits each dialect reads for the first listener of a config given as text. */
function limitsOf(target: TargetName, source: string, file = `/tmp/limits-test.${TARGETS[target].dialect === TARGETS.reference.dialect ? 'yaml' : 'conf'}`): ClientLimits | undefined {
  return TARGETS[target].dialect.analyze(source, file).listeners[0]?.limits;
}

const BUNDLED: Record<TargetName, string> = { reference: 'reference.yaml', nginx: 'nginx.conf', haproxy: 'haproxy.cfg', apache: 'apache.conf' };
const bundled = (target: TargetName): string => readFileSync(join(REPO_ROOT, 'fixtures', 'configs', 'http-hardening', BUNDLED[target]), 'utf8');
const brief = (l: ClientLimits | undefined): unknown =>
  l && { header: [l.headerTimeoutMs.value, l.headerTimeoutMs.at?.line], body: [l.bodyTimeoutMs.value, l.bodyTimeoutMs.at?.line], bytes: [l.headerBytes.value, l.headerBytes.scope, l.headerBytes.at?.line] };

describe('client limits as each dialect reads them', () => {
  it('reads the bundled http-hardening configs: 5 s for the head and the body, with their lines', () => {
    expect(brief(limitsOf('nginx', bundled('nginx')))).toEqual({ header: [5000, 22], body: [5000, 23], bytes: [8192, 'field', undefined] });
    expect(brief(limitsOf('haproxy', bundled('haproxy')))).toEqual({ header: [5000, 18], body: [5000, 18], bytes: [15_360, 'head', undefined] });
    expect(brief(limitsOf('apache', bundled('apache')))).toEqual({ header: [5000, 11], body: [5000, 11], bytes: [8190, 'field', undefined] });
    expect(brief(limitsOf('reference', bundled('reference')))).toEqual({ header: [5000, 22], body: [5000, 21], bytes: [16_384, 'head', undefined] });
  });

  it('falls back to the documented defaults, and says so', () => {
    const nginx = limitsOf('nginx', 'server { listen 80; location / { proxy_pass http://10.0.0.1:80; } }');
    expect(brief(nginx)).toEqual({ header: [60_000, undefined], body: [60_000, undefined], bytes: [8192, 'field', undefined] });
    expect(nginx?.headerTimeoutMs.source).toBe('nginx default: client_header_timeout 60s');
    const apache = limitsOf('apache', '<VirtualHost *:80>\n  ProxyPass "/" "http://10.0.0.1:80/"\n</VirtualHost>\n');
    expect(brief(apache)).toEqual({ header: [20_000, undefined], body: [20_000, undefined], bytes: [8190, 'field', undefined] });
    expect(apache?.headerTimeoutMs.source).toBe('mod_reqtimeout default: header=20-40,MinRate=500');
    const haproxy = limitsOf('haproxy', 'defaults\n  mode http\nfrontend f\n  bind :80\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n');
    expect(brief(haproxy)).toEqual({ header: [null, undefined], body: [null, undefined], bytes: [15_360, 'head', undefined] });
    expect(brief(limitsOf('reference', 'listeners:\n  - bind: 0.0.0.0:80\n    routes: []\n'))).toEqual({ header: [60_000, undefined], body: [60_000, undefined], bytes: [16_384, 'head', undefined] });
  });

  it('nginx: the server block over the http level; sizes in k', () => {
    const conf = 'http {\n  client_header_timeout 7s;\n  large_client_header_buffers 4 64k;\n  server {\n    listen 80;\n    client_header_timeout 2s;\n  }\n}\nevents {}\n';
    const l = limitsOf('nginx', conf);
    expect(brief(l)).toEqual({ header: [2000, 6], body: [60_000, undefined], bytes: [65_536, 'field', 3] });
    expect(l?.headerBytes.source).toBe('large_client_header_buffers 4 64k');
  });

  it('HAProxy: timeout client stands in for a missing timeout http-request; a frontend overrides its defaults; tune.bufsize - tune.maxrewrite', () => {
    const cfg = 'global\n  tune.bufsize 32768\ndefaults\n  mode http\n  timeout client 30s\n  timeout http-request 10s\nfrontend f\n  bind :80\n  timeout http-request 3s\n  default_backend b\nfrontend g\n  bind :81\n  no option http-buffer-request\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n';
    const [f, g] = TARGETS.haproxy.dialect.analyze(cfg, '/tmp/h.cfg').listeners.map((l) => l.limits);
    expect(brief(f)).toEqual({ header: [3000, 9], body: [30_000, 5], bytes: [31_744, 'head', 2] });
    expect(brief(g)).toEqual({ header: [10_000, 6], body: [30_000, 5], bytes: [31_744, 'head', 2] });
    const noRequest = limitsOf('haproxy', 'defaults\n  mode http\n  timeout client 60s\nfrontend f\n  bind :80\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n');
    expect(noRequest?.headerTimeoutMs).toMatchObject({ value: 60_000, source: 'no timeout http-request: timeout client 60s' });
    const buffered = limitsOf('haproxy', 'defaults\n  mode http\n  option http-buffer-request\n  timeout client 60s\n  timeout http-request 4s\nfrontend f\n  bind :80\n  default_backend b\nbackend b\n  server s 10.0.0.1:80\n');
    expect(buffered?.bodyTimeoutMs).toMatchObject({ value: 4000, source: 'timeout http-request 4s with option http-buffer-request' });
  });

  it('Apache: the vhost over the server config; the first number of a range; 0 is off', () => {
    const conf = 'RequestReadTimeout header=20-40,MinRate=500 body=0\nLimitRequestFieldSize 4094\n<VirtualHost *:80>\n  ProxyPass "/" "http://10.0.0.1:80/"\n</VirtualHost>\n';
    expect(brief(limitsOf('apache', conf))).toEqual({ header: [20_000, 1], body: [null, 1], bytes: [4094, 'field', 2] });
  });
});
