import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isLbdrillError } from '../errors.ts';
import { LineIndex, RunDirNames, applyEdits, commentOutEdits, hostPort, notAFile, readCompanions, splitWords, urlAuthority } from './config-text.ts';

describe('LineIndex', () => {
  it('maps offsets to 1-based lines and finds line ends before CRLF', () => {
    const index = new LineIndex('ab\r\ncd\nef');
    expect(index.lineCount).toBe(3);
    expect([0, 3, 4, 6, 7, 8].map((o) => index.lineOf(o))).toEqual([1, 1, 2, 2, 3, 3]);
    expect([index.lineEnd(1), index.lineEnd(2), index.lineEnd(3)]).toEqual([2, 6, 9]);
    expect(index.lineStart(3)).toBe(7);
  });
});

describe('applyEdits', () => {
  it('applies edits in any order', () => {
    expect(applyEdits('listen 80; server 10.0.0.1;', [{ start: 18, end: 26, text: '127.0.0.1:9' }, { start: 7, end: 9, text: '8080' }])).toBe('listen 8080; server 127.0.0.1:9;');
  });

  it('refuses an edit that would add or remove a line, and overlapping edits', () => {
    const refused = (f: () => unknown): boolean => {
      try {
        f();
      } catch (err) {
        return isLbdrillError(err, 'LBDRILL_ERR_INTERNAL');
      }
      return false;
    };
    expect(refused(() => applyEdits('a\nb', [{ start: 0, end: 3, text: 'x' }]))).toBe(true);
    expect(refused(() => applyEdits('ab', [{ start: 0, end: 1, text: 'x\ny' }]))).toBe(true);
    expect(refused(() => applyEdits('abcd', [{ start: 0, end: 2, text: 'x' }, { start: 1, end: 3, text: 'y' }]))).toBe(true);
  });
});

describe('commentOutEdits', () => {
  const drop = (source: string, directive: string): string => {
    const start = source.indexOf(directive);
    return applyEdits(source, commentOutEdits(new LineIndex(source), start, start + directive.length));
  };

  it('comments a directive out where it stands', () => {
    expect(drop('  daemon on;\n', 'daemon on;')).toBe('  # lbdrill dropped: daemon on;\n');
    expect(drop('  daemon on; # why\n', 'daemon on;')).toBe('  # lbdrill dropped: daemon on; # why\n');
  });

  it('moves the directive behind what follows it on the line, so that stays live', () => {
    expect(drop('server { listen [::]:80; server_name a; }\n', 'listen [::]:80;')).toBe('server { server_name a; } # lbdrill dropped: listen [::]:80;\n');
    const source = 'listen [::]:80; listen 80;';
    const edits = [...commentOutEdits(new LineIndex(source), 0, 15), { start: 23, end: 25, text: '8080' }];
    expect(applyEdits(source, edits)).toBe('listen 8080; # lbdrill dropped: listen [::]:80;');
  });

  it('comments every line of a directive spanning several', () => {
    expect(drop('a;\n  ssl_dhparam\n    /etc/dh.pem; b;\nc;', 'ssl_dhparam\n    /etc/dh.pem;')).toBe('a;\n  # lbdrill dropped: ssl_dhparam\nb; #     /etc/dh.pem;\nc;');
  });
});

describe('splitWords', () => {
  it('keeps spans and quote style, stops at a comment when asked', () => {
    const { words, commentStart } = splitWords(`server "s 1" 'a b' x#y # c`, 10, { comments: 'anywhere', midWordQuotes: true });
    expect(words.map((w) => [w.value, w.raw, w.start, w.quote])).toEqual([
      ['server', 'server', 10, ''],
      ['s 1', '"s 1"', 17, '"'],
      ['a b', "'a b'", 23, "'"],
      ['x', 'x', 29, ''],
    ]);
    expect(commentStart).toBe(30);
  });

  it('reads Apache words: # is an argument, a quote only opens a word', () => {
    const { words } = splitWords('Header set X "a \\" #b" c"d', 0, { comments: 'none', midWordQuotes: false });
    expect(words.map((w) => w.value)).toEqual(['Header', 'set', 'X', 'a " #b', 'c"d']);
  });

  it('reports a quote left open', () => {
    expect(splitWords('bind "oops', 0, { comments: 'anywhere', midWordQuotes: true }).unterminated).toBe(true);
  });
});

describe('urlAuthority', () => {
  it('finds host and port spans inside a URL', () => {
    const text = 'http://user@10.0.0.1:13000/api';
    const url = urlAuthority(text);
    expect(url).toEqual({ scheme: 'http', host: '10.0.0.1', port: 13000, start: 12, end: 26 });
    expect(urlAuthority('https://[fd00::1]/')).toMatchObject({ host: '[fd00::1]', port: null });
    expect(urlAuthority('http://10.0.0.1:8080$request_uri')).toMatchObject({ host: '10.0.0.1', port: 8080 });
    expect(urlAuthority('http://api-$env/')).toBeNull();
    expect(urlAuthority('/just/a/path')).toBeNull();
    expect(hostPort('::1', 80)).toBe('[::1]:80');
  });
});

describe('RunDirNames', () => {
  it('gives each path one file under the run dir, never a reserved or taken one', () => {
    const names = new RunDirNames('/run/x/', ['error.log']);
    expect(names.mapBase('/var/log/nginx/error.log', 'e')).toBe('/run/x/error-2.log');
    expect(names.mapBase('/var/log/other/error.log', 'e')).toBe('/run/x/error-3.log');
    expect(names.mapBase('/var/log/nginx/error.log', 'e')).toBe('/run/x/error-2.log');
    expect(names.mapBase('/etc/ssl/server.pem', 'p')).toBe('/run/x/server-2.pem');
    expect(names.mapBase('/var/lib/nginx/proxy', 'proxy', 'tmp')).toBe('/run/x/tmp/proxy');
  });
});

describe('readCompanions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbdrill-companions-'));
  mkdirSync(join(dir, 'snippets'));
  writeFileSync(join(dir, 'nodes.map'), 'node-a master1\n');
  writeFileSync(join(dir, 'snippets', 'proxy.conf'), 'proxy_set_header Host $host;\n');
  const config = join(dir, 'haproxy.cfg');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes the path as written when it exists, else the same base name next to the config', () => {
    const files = readCompanions(
      [
        { path: join(dir, 'snippets', 'proxy.conf'), line: 1, kind: 'include' },
        { path: 'snippets/proxy.conf', line: 2, kind: 'include' },
        { path: '/etc/haproxy/maps/nodes.map', line: 3, kind: 'map' },
      ],
      config,
    );
    expect(files.map((f) => [f.line, f.foundAt.slice(dir.length), f.content])).toEqual([
      [1, '/snippets/proxy.conf', 'proxy_set_header Host $host;\n'],
      [2, '/snippets/proxy.conf', 'proxy_set_header Host $host;\n'],
      [3, '/nodes.map', 'node-a master1\n'],
    ]);
  });

  it('looks a relative path up under the proxy root too', () => {
    const root = join(dir, 'root');
    mkdirSync(join(root, 'conf'), { recursive: true });
    writeFileSync(join(root, 'conf', 'extra.conf'), 'x');
    const files = readCompanions(
      [
        { path: 'conf/extra.conf', line: 4, kind: 'include' },
      ],
      config,
      [root],
    );
    expect(files.map((f) => f.foundAt)).toEqual([join(root, 'conf', 'extra.conf')]);
  });

  it('fails with one line naming the file and the config line when neither exists', () => {
    let caught: unknown;
    try {
      readCompanions([{ path: '/etc/haproxy/maps/missing.map', line: 12, kind: 'map' }], config);
    } catch (err) {
      caught = err;
    }
    expect(isLbdrillError(caught, 'LBDRILL_ERR_CONFIG_READ')).toBe(true);
    expect((caught as Error).message).toBe(`${config}:12: map file /etc/haproxy/maps/missing.map not found (nor missing.map next to the config)`);
  });

  it('globs and run-time variables name no single file', () => {
    expect(['conf.d/*.conf', '/etc/nginx/$host.htpasswd', '${APACHE_DIR}/x', 'a[12].map', '/etc/x.map'].map(notAFile)).toEqual([true, true, true, true, false]);
  });
});
