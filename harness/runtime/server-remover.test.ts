import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { UpstreamRef } from '../targets/config-plan.ts';
import { ConfigLineRemover } from './server-remover.ts';

const CONFIG = ['upstream stream_pool {', '    hash $request_uri consistent;', '    server 127.0.0.5:8082 max_fails=3; # node 1', '    server 127.0.0.6:8082;', '}', ''].join('\n');

function server(line: number): UpstreamRef {
  return { pool: 'stream_pool', name: '10.0.0.21:8082', address: '10.0.0.21:8082', line, backup: false };
}

describe('ConfigLineRemover', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  function setup(): { file: string; reloads: string[]; remover: ConfigLineRemover } {
    const dir = mkdtempSync(join(tmpdir(), 'lbdrill-remover-'));
    dirs.push(dir);
    const file = join(dir, 'site.conf');
    writeFileSync(file, CONFIG);
    const reloads: string[] = [];
    const remover = new ConfigLineRemover({ file, title: 'test', reload: async () => (reloads.push(readFileSync(file, 'utf8')), { reloadMs: 1 }) });
    return { file, reloads, remover };
  }

  it('comments the server line out (same line count), reloads, and restores the file with a second reload', async () => {
    const { file, reloads, remover } = setup();
    const removal = await remover.remove(server(3));
    expect(removal).toEqual({ file, line: 3, removed: 'server 127.0.0.5:8082 max_fails=3; # node 1', reload: { reloadMs: 1 } });
    const edited = readFileSync(file, 'utf8').split('\n');
    expect(edited).toHaveLength(CONFIG.split('\n').length);
    expect(edited[2]).toBe('# lbdrill took this server out of the pool: server 127.0.0.5:8082 max_fails=3; # node 1');
    expect(reloads).toHaveLength(1);
    await remover.restore();
    expect(readFileSync(file, 'utf8')).toBe(CONFIG);
    expect(reloads).toHaveLength(2);
    await remover.restore();
    expect(reloads).toHaveLength(2);
  });

  it('refuses a line that is not a one-line server directive, naming it, and leaves the file alone', async () => {
    const { file, reloads, remover } = setup();
    await expect(remover.remove(server(2))).rejects.toThrow('cannot take 10.0.0.21:8082 out of ' + file + ': line 2 is not a one-line server directive ("    hash $request_uri consistent;")');
    expect(readFileSync(file, 'utf8')).toBe(CONFIG);
    expect(reloads).toEqual([]);
  });
});
