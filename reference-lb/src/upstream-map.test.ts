import { describe, expect, it } from 'vitest';
import { mapKeyOf, parseMapFile, parseMapKey } from './upstream-map.ts';

describe('parseMapFile (HAProxy map format)', () => {
  it('reads `key value` lines, skipping comments and blank lines', () => {
    const text = '# node -> master\n\nnode1.example.com master1\n  node2.example.com\tmaster2  \r\nnode3.example.com   a value with spaces\n';
    expect([...parseMapFile(text)]).toEqual([
      ['node1.example.com', 'master1'],
      ['node2.example.com', 'master2'],
      ['node3.example.com', 'a value with spaces'],
    ]);
    expect(parseMapFile('').size).toBe(0);
  });

  it('names the line of a key without a value or a duplicate key', () => {
    expect(() => parseMapFile('a b\nlonely\n')).toThrow('line 2: expected "<key> <value>", got "lonely"');
    expect(() => parseMapFile('a b\n# x\na c\n')).toThrow('line 3: duplicate key "a"');
  });
});

describe('map keys', () => {
  it('parses the key sources', () => {
    expect(parseMapKey('header:X-Node-Name')).toEqual({ source: 'header', name: 'x-node-name' });
    expect(parseMapKey('path_segment:2')).toEqual({ source: 'path_segment', index: 2 });
    expect(parseMapKey('cookie:tenant')).toEqual({ source: 'cookie', name: 'tenant' });
    expect(parseMapKey('auth_group')).toEqual({ source: 'auth_group' });
    for (const bad of ['header:', 'path_segment:0', 'path_segment:x', 'query:a', 'auth', 'header:a b']) expect(parseMapKey(bad)).toBeUndefined();
  });

  it('takes the key from the request, undefined when absent or empty', () => {
    const raw = ['Host', 'x', 'x-node-name', 'node1', 'X-Node-Name', 'node2', 'Cookie', 'a=1; tenant=acme', 'X-Empty', ''];
    const key = (text: string, path = '/api/node7/x', user?: { name: string; groups: string[] }) => mapKeyOf(parseMapKey(text)!, path, raw, user);
    expect(key('header:X-Node-Name')).toBe('node1');
    expect(key('header:X-Empty')).toBeUndefined();
    expect(key('header:X-Missing')).toBeUndefined();
    expect(key('path_segment:1')).toBe('api');
    expect(key('path_segment:2')).toBe('node7');
    expect(key('path_segment:3')).toBe('x');
    expect(key('path_segment:4')).toBeUndefined();
    expect(key('path_segment:2', '/api//x')).toBeUndefined();
    expect(key('path_segment:1', '/')).toBeUndefined();
    expect(key('cookie:tenant')).toBe('acme');
    expect(key('cookie:other')).toBeUndefined();
    expect(key('auth_user', '/', { name: 'alice', groups: ['vip', 'staff'] })).toBe('alice');
    expect(key('auth_group', '/', { name: 'alice', groups: ['vip', 'staff'] })).toBe('vip');
    expect(key('auth_group', '/', { name: 'bob', groups: [] })).toBeUndefined();
    expect(key('auth_user')).toBeUndefined();
  });
});
