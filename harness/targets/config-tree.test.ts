import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isLbdrillError } from '../errors.ts';
import { RunDirNames } from './config-text.ts';
import { ConfigTree, TreeCopies, diskIncludes, findInclude, uniqueMappings } from './config-tree.ts';

describe('ConfigTree', () => {
  it('places files in one text and applies each edit to the file it falls in, once', () => {
    const tree = new ConfigTree();
    const a = tree.add('/a.conf', 'listen 80;\n').file;
    const b = tree.add('/b.conf', 'server 10.0.0.1;').file;
    expect(tree.add('/a.conf', 'ignored').added).toBe(false);
    expect(tree.repeated).toEqual(new Set(['/a.conf']));
    expect(tree.text.slice(b.base, b.base + 6)).toBe('server');
    const edit = { start: b.base + 7, end: b.base + 15, text: '127.0.0.1:9' };
    const out = tree.apply([{ start: a.base + 7, end: a.base + 9, text: '8080' }, edit, edit]);
    expect(out.get(a)).toBe('listen 8080;\n');
    expect(out.get(b)).toBe('server 127.0.0.1:9;');
  });

  it('drops a repeated mapping only in a file included more than once', () => {
    const tree = new ConfigTree();
    tree.add('/main', '');
    tree.add('/twice', '');
    tree.add('/twice', '');
    const m = (file?: string) => ({ kind: 'path' as const, from: 'x', to: 'y', line: 1, ...(file === undefined ? {} : { file }) });
    expect(uniqueMappings([m(), m(), m('/twice'), m('/twice')], tree)).toEqual([m(), m(), m('/twice')]);
  });
});

describe('findInclude', () => {
  const root = mkdtempSync(join(tmpdir(), 'lbdrill-tree-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'conf.d'));
  mkdirSync(join(root, 'sites-available'));
  mkdirSync(join(root, 'sites-enabled'));
  mkdirSync(join(root, 'extra', 'deep'), { recursive: true });
  for (const f of ['conf.d/b.conf', 'conf.d/a.conf', 'conf.d/.hidden.conf', 'conf.d/c.txt', 'sites-available/one', 'extra/x.conf', 'extra/deep/y.conf']) writeFileSync(join(root, f), f);
  symlinkSync('../sites-available/one', join(root, 'sites-enabled', 'one'));
  const rules = { root, prefix: '/etc/nginx' };

  it('reads a path written under the prefix inside the tree, globs sorted as glob(3) does, hidden files only by a leading dot', () => {
    expect(findInclude('/etc/nginx/conf.d/*.conf', rules)).toEqual([join(root, 'conf.d/a.conf'), join(root, 'conf.d/b.conf')]);
    expect(findInclude('conf.d/[ab].conf', rules)).toEqual([join(root, 'conf.d/a.conf'), join(root, 'conf.d/b.conf')]);
    expect(findInclude('conf.d/.*.conf', rules)).toEqual([join(root, 'conf.d/.hidden.conf')]);
    expect(findInclude('/etc/nginx/sites-enabled/*', rules)).toEqual([join(root, 'sites-enabled/one')]);
    expect(findInclude('/etc/nginx/nowhere.d/*.conf', rules)).toEqual([]);
  });

  it('a directory is every file below it for Apache, and nothing for nginx', () => {
    expect(findInclude('extra', { ...rules, directories: true })).toEqual([join(root, 'extra/deep/y.conf'), join(root, 'extra/x.conf')]);
    expect(findInclude('extra', rules)).toBeNull();
  });

  it('a missing file is one line naming the including file and line, unless optional', () => {
    const read = diskIncludes(rules);
    expect(read({ path: 'missing.conf', file: '/x/nginx.conf', line: 7, optional: true })).toEqual([]);
    try {
      read({ path: 'missing.conf', file: '/x/nginx.conf', line: 7, optional: false });
      throw new Error('expected an error');
    } catch (err) {
      expect(isLbdrillError(err, 'LBDRILL_ERR_CONFIG_READ')).toBe(true);
      expect((err as Error).message).toMatch(/^\/x\/nginx\.conf:7: include file missing\.conf not found/);
    }
  });

  it('copies mirror the tree, so a rewritten glob names exactly the copies; a wildcard in a directory is refused', () => {
    const copies = new TreeCopies(new RunDirNames('/run/t'), '/run/t', rules);
    const members = findInclude('conf.d/*.conf', rules)!.map((foundAt) => ({ path: 'conf.d/*.conf', line: 3, kind: 'include' as const, foundAt, content: '' }));
    const ref = { path: '/etc/nginx/conf.d/*.conf', file: '/x', line: 3, optional: false };
    expect(copies.pattern(ref, members)).toBe('/run/t/files/conf.d/*.conf');
    const tree = new ConfigTree();
    expect(copies.copyOf(tree.add(join(root, 'conf.d/a.conf'), '').file)).toBe('/run/t/files/conf.d/a.conf');
    expect(copies.copyOf(tree.add('/usr/share/x/mime.types', '').file)).toBe('/run/t/files/usr/share/x/mime.types');
    expect(() => diskIncludes(rules)({ ...ref, path: 'sites-*/one' })).toThrow('/x:3: lbdrill cannot map include sites-*/one: a wildcard in a directory name is not supported; name the directory');
  });
});
