import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { haproxyDialect } from '../harness/targets/haproxy/haproxy-config.ts';
import { ROOT } from './run-lbdrill.ts';

/*
 * docker-compose.yml as docker-compose reads it (no engine needed to parse), checked against the
 * config it runs: every server of the role's HAProxy config is a container at that server's address.
 * test/seed-001-game-day.e2e.test.ts brings it up and drills it.
 */
describe('docker-compose.yml', () => {
  it("is seed 001's topology: HAProxy with the role's config, each of its servers a container at the config's address", () => {
    const config = parse(execFileSync('docker-compose', ['-f', join(ROOT, 'docker-compose.yml'), 'config'], { encoding: 'utf8' })) as {
      services: Record<string, { container_name?: string; volumes?: Array<string | { source: string; target: string }>; networks?: Record<string, { ipv4_address?: string } | null> }>;
    };
    const roleConfig = join(ROOT, 'fixtures', 'configs', 'haproxy-role', 'haproxy.cfg');
    const servers = haproxyDialect.analyze(readFileSync(roleConfig, 'utf8'), roleConfig).upstreams;
    expect(Object.keys(config.services).sort()).toEqual(['backend-api-1', 'backend-api-2', 'certs', 'haproxy', 'stream-srv-1', 'stream-srv-2']);
    for (const server of servers) {
      const service = config.services[server.name];
      expect(service?.container_name, server.name).toBe(server.name);
      expect(Object.values(service?.networks ?? {})[0]?.ipv4_address, server.name).toBe(server.address.split(':')[0]);
    }
    const mounted = (config.services['haproxy']?.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':')[0] : v.source));
    expect(mounted).toContain(roleConfig);
  });
});
