import { describe, expect, it } from 'vitest';
import { escapeBytes, frameRequests } from './http1-request-framing.ts';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('frameRequests', () => {
  it('splits pipelined requests by Content-Length and chunked framing, decoding chunks', () => {
    const one = 'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello';
    const two = 'POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n';
    const three = 'GET /c HTTP/1.1\r\nHost: x\r\n\r\n';
    const framing = frameRequests(b(one + two + three));
    expect(framing.requests.map((r) => [r.method, r.target, r.body.toString()])).toEqual([
      ['POST', '/a', 'hello'],
      ['POST', '/b', 'abcde'],
      ['GET', '/c', ''],
    ]);
    expect(framing.requests[1]?.raw.toString('latin1')).toBe(two);
    expect(framing.leftover.length).toBe(0);
    expect(framing.problem).toBeUndefined();
  });

  it('leaves an incomplete request as leftover without a problem', () => {
    const framing = frameRequests(b('GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc'));
    expect(framing.requests).toHaveLength(1);
    expect(framing.leftover.toString()).toBe('POST /b HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc');
    expect(framing.problem).toBeUndefined();
  });

  it('leaves bytes after a complete request (a smuggled prefix) as leftover', () => {
    const framing = frameRequests(b('POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX'));
    expect(framing.requests).toHaveLength(1);
    expect(framing.leftover.toString()).toBe('X');
  });

  const refused: Array<[string, string, RegExp]> = [
    ['bare LF', 'GET / HTTP/1.1\nHost: x\n\n', /bare LF/],
    ['bare CR in a value', 'GET / HTTP/1.1\r\nX: a\rb\r\n\r\n', /bare CR/],
    ['NUL in a value', 'GET / HTTP/1.1\r\nX: a\0b\r\n\r\n', /invalid field value/],
    ['obs-fold', 'GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n', /obs-fold/],
    ['space before colon', 'GET / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n', /invalid field line/],
    ['empty name', 'GET / HTTP/1.1\r\n: x\r\n\r\n', /invalid field line/],
    ['0x85 in a name', 'GET / HTTP/1.1\r\nA\x85: x\r\n\r\n', /invalid field line/],
    ['CL and TE', 'POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', /both Transfer-Encoding and Content-Length/],
    ['TE not chunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', /not exactly chunked/],
    ['TE twice', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', /not exactly chunked/],
    ['CL twice', 'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na', /Content-Length given 2 times/],
    ['CL not digits', 'POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\na', /not digits/],
    ['chunk size word', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1x\r\na\r\n0\r\n\r\n', /invalid chunk-size/],
    ['chunk size overflow', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\na\r\n0\r\n\r\n', /invalid chunk-size/],
    ['chunk overrun', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nSEE-THIS\r\n0\r\n\r\n', /not followed by CRLF/],
    ['fragment in target', 'GET /a#x HTTP/1.1\r\nHost: x\r\n\r\n', /invalid request-line/],
    ['four words', 'G ET /a HTTP/1.1\r\nHost: x\r\n\r\n', /invalid request-line/],
    ['HTTP/0.9', 'GET /a\r\nHost: x\r\n\r\n', /invalid request-line/],
  ];
  for (const [name, bytes, problem] of refused) {
    it(`refuses to frame: ${name}`, () => {
      const framing = frameRequests(b(bytes));
      expect(framing.requests).toHaveLength(0);
      expect(framing.leftover.toString('latin1')).toBe(bytes);
      expect(framing.problem).toMatch(problem);
    });
  }
});

describe('escapeBytes', () => {
  it('escapes CR, LF, NUL and high bytes and cuts long runs in the middle', () => {
    expect(escapeBytes(b('a\r\n\0\x85\\'))).toBe('a\\r\\n\\x00\\x85\\\\');
    expect(escapeBytes(b('x'.repeat(50) + 'y'.repeat(50)), 25)).toBe('xxxxxxxxxx ... yyyyyyyyyy');
  });
});
