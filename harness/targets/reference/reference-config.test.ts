import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { referenceDialect } from './reference-config.ts';

const CONFIGS = fileURLToPath(new URL('../../../fixtures/configs/', import.meta.url));

function analyzeBundled(profile: string): ReturnType<typeof referenceDialect.analyze> {
  const file = `${CONFIGS}${profile}/reference.yaml`;
  return referenceDialect.analyze(readFileSync(file, 'utf8'), file);
}

describe('referenceDialect: what bindings need (weights, sticky cookie, checks, TLS versions, tunnel timeouts)', () => {
  it('reads the bundled sysmanage config: weights 3:3:2 and a backup, the check on /api/health, the 7 d WebSocket tunnel', () => {
    const analysis = analyzeBundled('sysmanage');
    expect(analysis.upstreams.filter((u) => u.pool === 'sysmanage_backend').map((u) => [u.address, u.weight, u.backup])).toEqual([
      ['10.0.1.10:8000', 3, false],
      ['10.0.1.11:8000', 3, false],
      ['10.0.1.12:8000', 2, false],
      ['10.0.1.13:8000', undefined, true],
    ]);
    expect(analysis.pools?.map((p) => [p.pool, p.active, p.tunnelTimeoutMs])).toEqual([
      [
        'sysmanage_backend',
        {
          method: 'GET',
          path: '/api/health',
          intervalMs: 5000,
          fall: 3,
          rise: 2,
          at: { text: 'health_check: { path: /api/health, interval_ms: 5000, timeout_ms: 3000, fall: 3, rise: 2 }', line: 11 },
        },
        undefined,
      ],
      ['sysmanage_websocket', undefined, 604_800_000],
    ]);
  });

  it('reads the bundled sticky-ws config: cookie VEZA_SERVERID inserted and indirect, each server pinned by its cookie_value', () => {
    const analysis = analyzeBundled('sticky-ws');
    expect(analysis.pools?.find((p) => p.pool === 'api_pool')?.cookie).toEqual({
      name: 'VEZA_SERVERID',
      mode: 'insert',
      indirect: true,
      at: { text: 'sticky: { cookie: VEZA_SERVERID, mode: insert, indirect: true, nocache: true }', line: 13 },
    });
    expect(analysis.pools?.map((p) => [p.pool, p.tunnelTimeoutMs])).toEqual([
      ['api_pool', 3_600_000],
      ['stream_pool', undefined],
      ['ws_pool', 3_600_000],
    ]);
    expect(analysis.upstreams.filter((u) => u.pool === 'api_pool').map((u) => [u.name, u.cookieValue])).toEqual([
      ['backend-api-1', 'api1'],
      ['backend-api-2', 'api2'],
    ]);
    // no sticky cookie in the other pools: no cookie values
    expect(analysis.upstreams.filter((u) => u.pool !== 'api_pool').every((u) => u.cookieValue === undefined)).toBe(true);
  });

  it('takes a sticky server without cookie_value by its name, else its address; reads expect_status as one range', () => {
    const source = [
      'upstreams:',
      '  app:',
      '    sticky: { cookie: SRV }',
      '    health_check:',
      '      path: /ready',
      '      expect_status: [2xx, 3xx, 400]',
      '    servers:',
      '      - { name: one, address: 10.0.0.1:80 }',
      '      - { address: 10.0.0.2:80, cookie_value: b }',
      '      - { address: 10.0.0.3:80 }',
      '  gaps:',
      '    health_check: { path: /, expect_status: [200, 204] }',
      '    servers: [{ address: 10.0.0.4:80 }]',
      'listeners:',
      '  - name: http',
      '    bind: 0.0.0.0:80',
      '    routes: [{ match: { prefix: / }, proxy: { upstream: app } }]',
    ].join('\n');
    const analysis = referenceDialect.analyze(source, 'reference.yaml');
    expect(analysis.upstreams.filter((u) => u.pool === 'app').map((u) => u.cookieValue)).toEqual(['one', 'b', '10.0.0.3:80']);
    expect(analysis.pools?.map((p) => [p.pool, p.cookie, p.active?.expectStatus, p.active?.at])).toEqual([
      // mode and indirect as the reference LB defaults them: insert, not indirect
      ['app', { name: 'SRV', mode: 'insert', indirect: false, at: { text: 'sticky: { cookie: SRV }', line: 3 } }, { min: 200, max: 400 }, { text: 'health_check:', line: 4 }],
      // 200 and 204 are not one run: no range is claimed
      ['gaps', undefined, undefined, { text: 'health_check: { path: /, expect_status: [200, 204] }', line: 12 }],
    ]);
  });

  it('says where a TLS listener\'s versions come from: tls.min_version when written, else nothing (the LB default decides)', () => {
    const tls = (extra: string): string =>
      ['listeners:', '  - name: https', '    bind: 0.0.0.0:443', '    tls:', '      cert: /c.pem', '      key: /k.pem', ...(extra ? [extra] : []), '    routes: [{ match: { prefix: / }, respond: { status: 200 } }]'].join('\n');
    expect(referenceDialect.analyze(tls('      min_version: TLSv1.3'), 'r.yaml').listeners[0]?.tlsProtocols).toEqual({ text: 'min_version: TLSv1.3', line: 7 });
    expect(referenceDialect.analyze(tls(''), 'r.yaml').listeners[0]?.tlsProtocols).toBeUndefined();
    expect(analyzeBundled('shakenfist-api').listeners.map((l) => [l.port, l.tls, l.tlsProtocols])).toEqual([
      [80, false, undefined],
      [443, true, undefined],
    ]);
  });
});
