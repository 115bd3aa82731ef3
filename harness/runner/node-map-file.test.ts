import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { NodeMapContract } from '../contracts/node-map.ts';
import type { Mapping } from '../targets/config-plan.ts';
import { locateNodeMap } from './node-map-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'lbdrill-node-map-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const contract: NodeMapContract = {
  header: 'X-Node-Name',
  map: '/etc/nginx/nodes-nginx.map',
  entries: { 'node-a.example.com': 'master1', 'node-b.example.com': 'master2' },
  default: 'master1',
  targets: {},
};

function companion(from: string, text: string, kind: Mapping['companion'] = 'include'): Mapping {
  const to = join(dir, from.replace(/\//g, '_'));
  writeFileSync(to, text);
  return { kind: 'path', from, to, companion: kind };
}

describe('locateNodeMap', () => {
  const nodes = 'node-a.example.com master1;\nnode-b.example.com master2;\n';

  it("keeps the profile's path when the config reads a file there", () => {
    expect(locateNodeMap(contract, [companion('/etc/nginx/nodes-nginx.map', nodes)]).map).toBe('/etc/nginx/nodes-nginx.map');
  });

  it('finds a map the config keeps elsewhere: the one file it reads that holds every node of the contract', () => {
    const mapped = [companion('/etc/nginx/conf.d/upstreams.conf', 'server 10.0.0.41:3001;'), companion('/etc/nginx/puppet/nodes.map', nodes)];
    expect(locateNodeMap(contract, mapped).map).toBe('/etc/nginx/puppet/nodes.map');
  });

  it("keeps the profile's path when no file, or more than one, holds every node", () => {
    expect(locateNodeMap(contract, [companion('/etc/nginx/partial.map', 'node-a.example.com master1;')]).map).toBe('/etc/nginx/nodes-nginx.map');
    expect(locateNodeMap(contract, [companion('/etc/nginx/one.map', nodes), companion('/etc/nginx/two.map', nodes)]).map).toBe('/etc/nginx/nodes-nginx.map');
  });

  it('leaves a config without companion files (the reference LB names maps, not files) alone', () => {
    expect(locateNodeMap({ ...contract, map: 'nodes' }, [])).toEqual({ ...contract, map: 'nodes' });
  });
});
