import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { apacheDialect } from './apache/apache-config.ts';
import type { ConfigAnalysis, ConfigDialect } from './config-plan.ts';
import { haproxyDialect } from './haproxy/haproxy-config.ts';
import { nginxDialect } from './nginx/nginx-config.ts';
import { referenceDialect } from './reference/reference-config.ts';

/*
 * What checks bind to, read from every bundled config by its dialect: the same contract in four
 * dialects must yield the same weights, cookie and check, each from the config's own lines.
 */

const CONFIGS = fileURLToPath(new URL('../../fixtures/configs/', import.meta.url));
const TARGETS: Array<{ name: string; file: string; dialect: ConfigDialect }> = [
  { name: 'haproxy', file: 'haproxy.cfg', dialect: haproxyDialect },
  { name: 'nginx', file: 'nginx.conf', dialect: nginxDialect },
  { name: 'apache', file: 'apache.conf', dialect: apacheDialect },
  { name: 'reference', file: 'reference.yaml', dialect: referenceDialect },
];

function analyze(profile: string, target: (typeof TARGETS)[number]): ConfigAnalysis {
  const path = `${CONFIGS}${profile}/${target.file}`;
  return target.dialect.analyze(readFileSync(path, 'utf8'), path);
}

describe('bundled configs: what checks bind to, as each dialect reads it', () => {
  it('sysmanage: the /api/ pool weighs its primaries 3:3:2 in every dialect', () => {
    const pool: Record<string, string> = { haproxy: 'sysmanage_api', nginx: 'sysmanage_backend', apache: 'sysmanage_backend', reference: 'sysmanage_backend' };
    for (const target of TARGETS) {
      const primaries = analyze('sysmanage', target).upstreams.filter((u) => u.pool === pool[target.name] && !u.backup);
      expect(primaries.map((u) => u.weight), target.name).toEqual([3, 3, 2]);
    }
  });

  it('sticky-ws: api_pool pins by cookie VEZA_SERVERID; only nginx cannot set it, only HAProxy and the reference LB hide it', () => {
    const cookies = Object.fromEntries(TARGETS.map((t) => {
      const cookie = analyze('sticky-ws', t).pools?.find((p) => p.pool === 'api_pool')?.cookie;
      return [t.name, cookie === undefined ? undefined : `${cookie.name} ${cookie.mode}${cookie.indirect ? ' indirect' : ''}`];
    }));
    expect(cookies).toEqual({ haproxy: 'VEZA_SERVERID insert indirect', nginx: 'VEZA_SERVERID honour', apache: 'VEZA_SERVERID insert', reference: 'VEZA_SERVERID insert indirect' });
  });

  it('shakenfist-api: no config says which TLS versions it takes (the TLS library decides); the 1 h streaming timeouts reach the tunnels', () => {
    for (const target of TARGETS) {
      const analysis = analyze('shakenfist-api', target);
      const tls = analysis.listeners.filter((l) => l.tls);
      expect(tls.map((l) => [l.port, l.tlsProtocols]), target.name).toEqual([[443, undefined]]);
      // the reference LB's tunnel timeout is its own default (1 h), not written in its config
      expect(analysis.pools?.find((p) => p.pool === 'sfapi')?.tunnelTimeoutMs, target.name).toBe(target.name === 'reference' ? undefined : 3_600_000);
    }
  });

  it('node-map-gateway: the masters are checked with GET /status/v1/simple where the dialect has active checks', () => {
    const checks = Object.fromEntries(TARGETS.map((t) => [t.name, [...new Set(analyze('node-map-gateway', t).pools?.map((p) => p.active && `${p.active.method} ${p.active.path}`))]]));
    expect(checks).toEqual({ haproxy: ['GET /status/v1/simple'], nginx: [undefined], apache: [undefined], reference: ['GET /status/v1/simple'] });
  });
});
