import { describe, expect, it } from 'vitest';
import { frameRequests } from './http1-request-framing.ts';
import { HARDENING_CHECKS, SENTINEL_SEGMENT, sentinelBytes, VECTORS, vectorPath, vectorsOf } from './vectors.ts';

const params = { id: 'vec-7', host: 'www.example.com', prefix: '/api/' };
const latin1 = (id: string): string => {
  const vector = VECTORS.find((v) => v.id === id);
  if (!vector) throw new Error(`no vector ${id}`);
  return Buffer.concat(vector.pieces(params)).toString('latin1');
};
const head = (method: string, id: string): string => `${method} /api/hardening/${id}/vec-7 HTTP/1.1\r\nHost: www.example.com\r\nX-Lbdrill-Id: vec-7\r\n`;

/** Vectors that are valid HTTP/1.1 on the wire: their danger is in what they mean, not in their syntax. */
const WELL_FORMED = new Set(['TE-1.0', 'name-underscore', 'absform', 'h2c']);

describe('the vector catalogue', () => {
  it('has unique ids, and every check of the profile has vectors', () => {
    expect(new Set(VECTORS.map((v) => v.id)).size).toBe(VECTORS.length);
    for (const check of HARDENING_CHECKS) expect(vectorsOf(check).length, check).toBeGreaterThan(0);
    expect(VECTORS.length).toBeGreaterThanOrEqual(30);
  });

  it('lays out the research file\'s bytes exactly', () => {
    expect(latin1('CLTE')).toBe(`${head('POST', 'CLTE')}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nZ\r\n0\r\n\r\n`);
    expect(latin1('TECL')).toBe(`${head('POST', 'TECL')}Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nX`);
    expect(latin1('CL-diff')).toBe(`${head('POST', 'CL-diff')}Content-Length: 0\r\nContent-Length: 31\r\n\r\nGET /evil HTTP/1.1\r\nHost: a\r\n\r\n`);
    expect(latin1('TE-vt')).toContain('Transfer-Encoding:\x0bchunked\r\n');
    expect(latin1('TE-fold-line')).toContain('Foo: bar\r\n Transfer-Encoding: chunked\r\n');
    expect(latin1('CH-LF')).toMatch(/\r\n\r\na\r\n0123456789\n0\r\n\r\n$/);
    expect(latin1('CH-extCR')).toMatch(/\r\n\r\n2\r\r;a\r\n02\r\n41\r\n0\r\n\r\n$/);
    expect(latin1('LF-only')).toBe('GET /api/hardening/LF-only/vec-7 HTTP/1.1\nHost: www.example.com\nX-Lbdrill-Id: vec-7\n\n');
    expect(latin1('NUL-val')).toContain('X: a\x00.b\r\n');
    expect(Buffer.concat(VECTORS.find((v) => v.id === 'name-obs-text')!.pieces(params)).includes(Buffer.from([0x48, 0x65, 0x61, 0x64, 0x65, 0x72, 0x85, 0x3a]))).toBe(true);
    expect(latin1('http09')).toBe('GET /api/hardening/http09/vec-7\r\nHost: www.example.com\r\nX-Lbdrill-Id: vec-7\r\n\r\n');
    expect(latin1('h2c')).toBe(`${head('GET', 'h2c')}Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n`);
  });

  it('every vector names its id and its path under the prefix, and breaks RFC 9112 framing unless it is well-formed on purpose', () => {
    for (const v of VECTORS) {
      const bytes = Buffer.concat(v.pieces(params));
      expect(bytes.includes('vec-7'), v.id).toBe(true);
      expect(bytes.includes(vectorPath(v.id, params)), v.id).toBe(true);
      const framing = frameRequests(bytes);
      const clean = framing.requests.length === 1 && framing.leftover.length === 0;
      expect(clean, `${v.id}: ${framing.problem ?? 'frames cleanly'}`).toBe(WELL_FORMED.has(v.id));
    }
  });

  it('the sentinel is one clean GET under the prefix', () => {
    const framing = frameRequests(sentinelBytes(params));
    expect(framing.requests.map((r) => `${r.method} ${r.target}`)).toEqual([`GET /api/${SENTINEL_SEGMENT}vec-7`]);
    expect(framing.leftover.length).toBe(0);
  });

  it('judges a forwarded request by what it carries', () => {
    const frame = (s: string) => frameRequests(Buffer.from(s, 'latin1')).requests[0]!;
    const h2c = VECTORS.find((v) => v.id === 'h2c')!;
    expect(h2c.forwarded?.(frame('GET / HTTP/1.1\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n'), params)).toMatch(/Upgrade/);
    expect(h2c.forwarded?.(frame('GET / HTTP/1.1\r\nConnection: close\r\n\r\n'), params)).toBeUndefined();
    const abs = VECTORS.find((v) => v.id === 'absform')!;
    expect(abs.forwarded?.(frame('GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n'), params)).toMatch(/internal\.invalid/);
    expect(abs.forwarded?.(frame('GET / HTTP/1.1\r\nHost: internal.invalid\r\n\r\n'), params)).toBeUndefined();
  });
});
