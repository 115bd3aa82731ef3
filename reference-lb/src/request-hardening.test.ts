import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoadBalancer, type StartedLoadBalancer } from './start-load-balancer.ts';
import { sendRaw, startRecordingUpstream, testConfig, type RecordingUpstream } from './test-upstream.ts';

/*
 * The smuggling and parser vectors of issue 14 (research file section 1, plus h2c and
 * absolute-form), as exact bytes on a raw socket: each must get 400 (or the status
 * named), a closed connection, and not one byte on any upstream connection.
 */
const P = 'POST / HTTP/1.1\r\nHost: a\r\n';
const G = 'GET / HTTP/1.1\r\nHost: a\r\n';

const VECTORS: Array<[id: string, bytes: string, status?: number]> = [
  ['CLTE', `${P}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nZ\r\n0\r\n\r\n`],
  ['TECL', `${P}Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nX`],
  ['TE-x', `${P}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`],
  ['TE-sp', `${P}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`],
  ['TE-vt', `${P}Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n`],
  ['TE-dup', `${P}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
  ['TE-list identity', `${P}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`],
  ['TE-list gzip', `${P}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`],
  ['TE-comma', `${P}Transfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n`],
  ['TE-1.0', `POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
  ['TE-fold', `${P}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`],
  ['TE-fold after Foo', `${P}Foo: bar\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
  ['CL-diff', `${P}Content-Length: 0\r\nContent-Length: 31\r\n\r\nGET /evil HTTP/1.1\r\nHost: a\r\n\r\n`],
  ['CL-same', `${P}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`],
  ['CL-same list', `${P}Content-Length: 5, 5\r\n\r\nhello`],
  ['CL-empty', `${G}content-length: \r\ncontent-length: 31\r\n\r\nGET /evil HTTP/1.1\r\nHost: a\r\n\r\n`],
  ['CL-junk +', `${P}Content-Length: +5\r\n\r\nhello`],
  ['CL-junk -', `${P}Content-Length: -5\r\n\r\nhello`],
  ['CL-junk 5.0', `${P}Content-Length: 5.0\r\n\r\nhello`],
  ['CL-junk 0x5', `${P}Content-Length: 0x5\r\n\r\nhello`],
  ['CH-size junk', `${P}Transfer-Encoding: chunked\r\n\r\n1these-bytes\r\nZ\r\n0\r\n\r\n`],
  ['CH-size -0x0', `${P}Transfer-Encoding: chunked\r\n\r\n-0x0\r\n\r\n`],
  ['CH-size spaces', `${P}Transfer-Encoding: chunked\r\n\r\n  0\r\n\r\n`],
  ['CH-size overflow', `${P}Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\nZ\r\n0\r\n\r\n`],
  ['CH-LF', `${P}Transfer-Encoding: chunked\r\n\r\na\r\n0123456789\n0\r\n\r\n`],
  ['CH-extCR', `${P}Transfer-Encoding: chunked\r\n\r\n2\r\r;a\r\n02\r\n41\r\n0\r\n\r\n`],
  ['CH-run', `${P}Transfer-Encoding: chunked\r\n\r\n4\r\nSEE-THIS\r\n0\r\n\r\n`],
  ['LF-only', 'GET / HTTP/1.1\nHost: a\n\n'],
  ['CR-val', `${G}X: this\rvalue\r\n\r\n`],
  ['NUL-val', 'GET / HTTP/1.1\r\nHost: a\x00.b\r\n\r\n'],
  ['name-empty', `${G}: x\r\nContent-Length: 5\r\n\r\nhello`],
  ['name-bad LF', `${G}Te\nst: t\r\n\r\n`],
  ['name-bad 0x85', `${G}Header\x85: v\r\n\r\n`],
  ['name-bad underscore', `${P}Transfer_Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello`],
  ['reqline space', 'GET /a b HTTP/1.1\r\nHost: a\r\n\r\n'],
  ['reqline CTL', 'GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n'],
  ['reqline fragment', 'GET /#x HTTP/1.1\r\nHost: a\r\n\r\n'],
  ['method space', 'G ET / HTTP/1.1\r\nHost: a\r\n\r\n'],
  ['method lower', 'get / HTTP/1.1\r\nHost: a\r\n\r\n'],
  ['method tab', 'GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n'],
  ['http09', 'GET /\r\nHost: a\r\n\r\n'],
  ['HTTP/2.0 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
  ['raw UTF-8 in target', 'GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n'],
  ['absform other host', 'GET http://internal/admin HTTP/1.1\r\nHost: public\r\n\r\n'],
  ['h2c', `${G}Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n`],
];

describe('request hardening: every smuggling and parser vector is refused before any upstream', () => {
  let upstream: RecordingUpstream;
  let lb: StartedLoadBalancer;
  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    lb = await startLoadBalancer(
      testConfig({
        upstreams: { pool: { keepalive: 4, servers: [{ address: upstream.address }] } },
        headers: { preserve_host: true },
        listeners: [{ name: 'http', bind: '127.0.0.1:0', routes: [{ match: { prefix: '/' }, proxy: { upstream: 'pool' } }] }],
      }),
    );
  });
  afterAll(async () => {
    await lb?.close();
    await upstream?.close();
  });

  it.each(VECTORS)('%s', async (_id, bytes, status = 400) => {
    const before = upstream.rawBytes();
    const res = await sendRaw(lb.listeners[0]!.port, bytes);
    expect({ status: res.status, closed: res.closed, upstreamBytes: upstream.rawBytes() - before }).toEqual({ status, closed: true, upstreamBytes: 0 });
    // A sentinel afterwards is served: one request, whole, reaches the upstream.
    const requests = upstream.requests.length;
    const sentinel = await sendRaw(lb.listeners[0]!.port, 'GET /sentinel HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(sentinel.status).toBe(200);
    expect(upstream.requests.slice(requests).map((r) => r.url)).toEqual(['/sentinel']);
  });

  // The controls: what the measurement would see if a vector got through.
  it.each([
    ['a chunked POST', `${P}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, 'hello'],
    ['Transfer-Encoding: Chunked (coding names are case-insensitive, RFC 9112 §7)', `${P}Transfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, 'hello'],
    ['absolute-form naming the Host', 'GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n', 'GET /x HTTP/1.1'],
    ['absolute-form with the default port', 'GET http://A:80/x HTTP/1.1\r\nHost: a\r\n\r\n', 'GET /x HTTP/1.1'],
    ['Upgrade: h2c without Connection: upgrade (a plain GET, Upgrade dropped as hop-by-hop)', `GET /h2c HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n`, 'GET /h2c HTTP/1.1'],
  ])('forwards %s once', async (_what, bytes, upstreamSees) => {
    const lengths = upstream.raw.map((b) => b.length);
    const res = await sendRaw(lb.listeners[0]!.port, bytes, 500);
    expect(res.status).toBe(200);
    const text = upstream.raw.map((b, i) => b.subarray(lengths[i] ?? 0).toString('latin1')).join('');
    expect(text).toContain(upstreamSees);
    expect(text.match(/ HTTP\/1\.1\r\n/g)).toHaveLength(1);
    expect(text.toLowerCase()).not.toContain('upgrade');
  });
});
