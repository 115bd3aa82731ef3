import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../paths.ts';
import { loadProfile } from './profile.ts';

const dir = mkdtempSync(join(tmpdir(), 'lbdrill-profile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function loadError(ref: string): string {
  try {
    loadProfile(ref);
  } catch (err) {
    return `${(err as { code?: string }).code}: ${(err as Error).message}`;
  }
  return 'no error';
}

describe('a profile file of the user', () => {
  it('is read from a path anywhere, named after its file, with configs relative to it', () => {
    const file = write(
      'our-gateway.yaml',
      'title: our gateway\nconfigs: ./configs\nchecks:\n  - { id: prefix.strip, severity: must }\npools:\n  - { name: api, probe_path: /api/x, path_prefix: /api/ }\n',
    );
    const p = loadProfile(file);
    expect(p.name).toBe('our-gateway');
    expect(p.configDir).toBe(join(dir, 'configs'));
    expect(p.checks).toEqual([{ id: 'prefix.strip', severity: 'must' }]);
  });

  it('extends a bundled profile: inherits everything, overrides severities, drops and adds checks, merges pools by name', () => {
    const file = write(
      'ours.yaml',
      [
        'extends: sticky-ws',
        'title: sticky-ws without source affinity, our cookie',
        'sticky: { cookie: SRV }',
        'pools:',
        '  - { name: api_pool, aliases: [be_app] }',
        'checks:',
        '  - { id: affinity.source-ip, severity: off }',
        '  - { id: ws.idle-survives, severity: should }',
        '  - { id: failover.detect-within-budget, severity: must, pool: api_pool }',
        'failover: { budgets: { detect: 12s } }',
      ].join('\n'),
    );
    const p = loadProfile(file);
    const base = loadProfile('sticky-ws');
    expect(p.name).toBe('ours');
    expect(p.configDir).toBe(base.configDir);
    expect(p.checks.map((c) => c.id)).toEqual([...base.checks.map((c) => c.id).filter((id) => id !== 'affinity.source-ip'), 'failover.detect-within-budget']);
    expect(p.checks.find((c) => c.id === 'ws.idle-survives')).toEqual({ id: 'ws.idle-survives', severity: 'should', pool: 'ws_pool' });
    expect(p.sticky).toEqual({ cookie: 'SRV', ws_path: base.sticky!.ws_path });
    expect(p.pools.find((x) => x.name === 'api_pool')).toMatchObject({ aliases: ['be_app'], probe_path: base.pools[0]!.probe_path });
    expect(p.failover.budgets).toEqual({ ...base.failover.budgets, detect: '12s' });
  });

  it('extends another file by relative path, and a cycle is named', () => {
    write('a.yaml', 'extends: ./b.yaml\ntitle: a\n');
    write('b.yaml', 'extends: ./a.yaml\ntitle: b\n');
    expect(loadError(join(dir, 'a.yaml'))).toMatch(/^LBDRILL_ERR_SCENARIO_INVALID: .*extends: a cycle \(a\.yaml -> b\.yaml -> a\.yaml\)/);
  });

  it('is validated like the bundled ones: one line naming the file and the field', () => {
    const unknownField = write('bad1.yaml', 'extends: shakenfist-api\nchecks:\n  - { id: prefix.strip, severity: sometimes }\n');
    expect(loadError(unknownField)).toMatch(/^LBDRILL_ERR_SCENARIO_INVALID: .*bad1\.yaml: checks\[0\]\.severity/);
    const unknownCheck = write('bad2.yaml', 'extends: shakenfist-api\nchecks:\n  - { id: prefix.stripped, severity: must }\n');
    expect(loadError(unknownCheck)).toMatch(/bad2\.yaml: checks\[\d+\]\.id: unknown check "prefix\.stripped"/);
    const badPool = write('bad3.yaml', 'extends: sticky-ws\nchecks:\n  - { id: hash.uri-consistent, severity: must, pool: streams }\n');
    expect(loadError(badPool)).toMatch(/bad3\.yaml: checks\[\d+\]\.pool: no pool "streams"/);
    const offUnknown = write('bad4.yaml', 'extends: shakenfist-api\nchecks:\n  - { id: hash.uri-consistent, severity: off }\n');
    expect(loadError(offUnknown)).toMatch(/bad4\.yaml: checks\[0\]: "hash\.uri-consistent" is off, but the profile it extends does not run it/);
    const notYaml = write('bad5.yaml', 'checks: [\n');
    expect(loadError(notYaml)).toMatch(/^LBDRILL_ERR_SCENARIO_INVALID: .*bad5\.yaml: /);
  });

  it('an unknown name that is no file is a usage error listing the bundled profiles', () => {
    expect(loadError('our-gateway')).toMatch(/^LBDRILL_ERR_USAGE: unknown profile "our-gateway" \(bundled: .*shakenfist-api.*; or a path to a profile file\)/);
  });

  it('without configs has none: every target then needs NAME=FILE', () => {
    const file = write('noconf.yaml', 'title: t\nchecks:\n  - { id: prefix.strip, severity: must }\n');
    expect(loadProfile(file).configDir).toBeUndefined();
    expect(loadProfile('shakenfist-api').configDir).toBe(join(REPO_ROOT, 'fixtures/configs/shakenfist-api'));
  });
});
