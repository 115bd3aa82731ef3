import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLbdrillError } from '../errors.ts';
import { FileMapUpdater } from './file-map-updater.ts';
import { writeMapEntry } from './map-file.ts';

const NGINX_MAP = ['# node certname -> Puppet master', 'node-a.example.com master1;', '  node-b.example.com   master2;  # moved in May', 'node-c.example.com master1;', ''].join('\n');
const PLAIN_MAP = ['# node certname -> Puppet master', 'node-a.example.com master1', 'node-b.example.com master2', ''].join('\n');

let dir: string;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lbdrill-map-file-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function mapFile(text: string, mode = 0o644): string {
  const file = join(dir, `map-${++n}.map`);
  writeFileSync(file, text);
  chmodSync(file, mode);
  return file;
}

describe('writeMapEntry: one entry of a map file, the way a map updater writes it', () => {
  it('nginx syntax: replaces the entry line in place (`key value;`, indentation kept), leaves comments and other entries alone', async () => {
    const file = mapFile(NGINX_MAP);
    const write = await writeMapEntry(file, 'node-b.example.com', 'master1', 'nginx');
    expect(write).toMatchObject({ file, line: 'node-b.example.com master1;', replaced: true });
    expect(readFileSync(file, 'utf8')).toBe(['# node certname -> Puppet master', 'node-a.example.com master1;', '  node-b.example.com master1;', 'node-c.example.com master1;', ''].join('\n'));
  });

  it('plain syntax (HAProxy map, RewriteMap txt:): `key value`; a key not in the file is appended before the final newline', async () => {
    const file = mapFile(PLAIN_MAP);
    expect(await writeMapEntry(file, 'node-a.example.com', 'master2', 'plain')).toMatchObject({ line: 'node-a.example.com master2', replaced: true });
    expect(await writeMapEntry(file, 'node-z.example.com', 'master1', 'plain')).toMatchObject({ replaced: false });
    expect(readFileSync(file, 'utf8')).toBe(['# node certname -> Puppet master', 'node-a.example.com master2', 'node-b.example.com master2', 'node-z.example.com master1', ''].join('\n'));
    // a key that only starts like another one is another key
    expect((await writeMapEntry(file, 'node-a', 'master1', 'plain')).replaced).toBe(false);
  });

  it('keeps CRLF line ends and a file without a final newline readable', async () => {
    const crlf = mapFile('a master1\r\nb master2\r\n');
    await writeMapEntry(crlf, 'b', 'master1', 'plain');
    expect(readFileSync(crlf, 'utf8')).toBe('a master1\r\nb master1\r\n');
    const bare = mapFile('a master1;');
    await writeMapEntry(bare, 'b', 'master2', 'nginx');
    expect(readFileSync(bare, 'utf8')).toBe('a master1;\nb master2;\n');
  });

  it('replaces the file by rename (a new inode, no temp file left) and keeps its mode', async () => {
    const file = mapFile(PLAIN_MAP, 0o640);
    const before = statSync(file);
    await writeMapEntry(file, 'node-a.example.com', 'master2', 'plain');
    const after = statSync(file);
    expect(after.ino).not.toBe(before.ino);
    expect(after.mode & 0o7777).toBe(0o640);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('always gives the file a new mtime (mod_rewrite rereads a txt: map only then), even for writes within one clock tick', async () => {
    // Linux stamps files from a coarse clock (a jiffy, 1-10 ms): back-to-back writes share a tick.
    const file = mapFile(PLAIN_MAP);
    const writes = [];
    for (let i = 0; i < 20; i++) writes.push(await writeMapEntry(file, 'node-a.example.com', i % 2 === 0 ? 'master2' : 'master1', 'plain'));
    for (const w of writes) expect(BigInt(w.mtimeAfterNs) / 1000n, JSON.stringify(w)).not.toBe(BigInt(w.mtimeBeforeNs) / 1000n);
    expect(statSync(file, { bigint: true }).mtimeNs.toString()).toBe(writes.at(-1)!.mtimeAfterNs);
  });

  it('a missing map file is LBDRILL_ERR_RUNTIME_API naming it', async () => {
    const missing = join(dir, 'absent.map');
    const err = await writeMapEntry(missing, 'a', 'b', 'plain').catch((e: unknown) => e);
    expect(isLbdrillError(err, 'LBDRILL_ERR_RUNTIME_API')).toBe(true);
    expect((err as Error).message).toContain(missing);
  });
});

describe('FileMapUpdater', () => {
  it('rewrites the file, then runs the reload and reports both', async () => {
    const file = mapFile(NGINX_MAP);
    const reloads: string[] = [];
    const updater = new FileMapUpdater({ file, syntax: 'nginx', title: 'test', reload: async () => {
      reloads.push(readFileSync(file, 'utf8'));
      return { reloadMs: 1 };
    } });
    const details = await updater.set('node-a.example.com', 'master2');
    expect(reloads).toHaveLength(1);
    expect(reloads[0]).toContain('\nnode-a.example.com master2;\n');
    expect(details).toMatchObject({ write: { line: 'node-a.example.com master2;', replaced: true }, reload: { reloadMs: 1 } });
  });
});
