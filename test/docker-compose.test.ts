import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './run-lbdrill.ts';

describe('docker-compose.yml', () => {
  // CI installs docker-compose (no engine needed to parse); test/required-tools.test.ts names it when missing.
  it('parses and describes the backends and all four load balancers', () => {
    const out = execFileSync('docker-compose', ['-f', join(ROOT, 'docker-compose.yml'), '--profile', 'reference', 'config', '--services'], { encoding: 'utf8' });
    expect(out.split('\n').filter(Boolean).sort()).toEqual(['apache', 'haproxy', 'nginx', 'reference-lb', 'sf-api-1', 'sf-api-2']);
  });
});
