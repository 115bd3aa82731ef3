import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseResponse, RawHttpConnection } from './raw-http-client.ts';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('parseResponse', () => {
  it('frames by Content-Length, chunked, and close, and leaves the next response unread', () => {
    const cl = parseResponse(b('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 204 No Content\r\n\r\n'), false);
    expect(cl.kind === 'response' && [cl.response.status, cl.response.body.toString(), cl.consumed]).toEqual([200, 'hi', 40]);
    const chunked = parseResponse(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n1;x\r\n!\r\n0\r\n\r\n'), false);
    expect(chunked.kind === 'response' && chunked.response.body.toString()).toBe('hi!');
    expect(parseResponse(b('HTTP/1.0 200 OK\r\n\r\nuntil close'), false).kind).toBe('incomplete');
    const closed = parseResponse(b('HTTP/1.0 200 OK\r\n\r\nuntil close'), true);
    expect(closed.kind === 'response' && closed.response.body.toString()).toBe('until close');
  });

  it('reads no body on 1xx, 204, 304 and HEAD', () => {
    const r = parseResponse(b('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n\x00\x00\x12'), false);
    expect(r.kind === 'response' && [r.response.status, r.consumed]).toEqual([101, 50]);
    const head = parseResponse(b('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n'), false, 'HEAD');
    expect(head.kind === 'response' && head.response.body.length).toBe(0);
  });

  it('says what is not an HTTP/1.1 response', () => {
    expect(parseResponse(b('<html>hello</html>'), false)).toMatchObject({ kind: 'invalid', reason: 'no HTTP/1.x status line' });
    expect(parseResponse(b('HTTP/1.1 2000 OK\r\n\r\n'), false)).toMatchObject({ kind: 'invalid' });
    expect(parseResponse(b('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'), false)).toMatchObject({ kind: 'invalid' });
    expect(parseResponse(b('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab'), true)).toMatchObject({ kind: 'invalid', reason: 'connection closed inside a body' });
  });
});

describe('RawHttpConnection', () => {
  const servers: net.Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  });

  /** A server that records what it received and answers with `answer(receivedSoFar)`. */
  async function server(answer: (received: string, socket: net.Socket) => void): Promise<{ port: number; received: string[] }> {
    const received: string[] = [];
    const s = net.createServer((socket) => {
      let got = '';
      socket.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        received.push(d.toString('latin1'));
        answer(got, socket);
      });
    });
    servers.push(s);
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return { port: (s.address() as net.AddressInfo).port, received };
  }

  it('writes exact bytes in pieces, reads pipelined responses, then sees the close', async () => {
    const srv = await server((got, socket) => {
      if (got.endsWith('\r\n\r\nx')) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
    await using conn = await RawHttpConnection.open({ host: '127.0.0.1', port: srv.port, tls: false, serverName: 'x' }, 2_000);
    await conn.write([b('GET / HTTP/1.1\r\n'), b('\r\nx')]);
    expect(await conn.read(2_000)).toMatchObject({ kind: 'response', response: { status: 200 } });
    expect(await conn.read(2_000)).toMatchObject({ kind: 'response', response: { status: 400 } });
    expect(await conn.read(2_000)).toMatchObject({ kind: 'closed' });
    expect(srv.received.join('')).toBe('GET / HTTP/1.1\r\n\r\nx');
    expect(conn.responses).toHaveLength(2);
  });

  it('times out without closing when nothing comes', async () => {
    const srv = await server(() => {});
    await using conn = await RawHttpConnection.open({ host: '127.0.0.1', port: srv.port, tls: false, serverName: 'x' }, 2_000);
    await conn.write([b('GET / HTTP/1.1\r\n')]);
    expect(await conn.read(50)).toEqual({ kind: 'timeout', afterMs: 50 });
    expect(conn.closed).toBe(false);
  });

  it('reports an HTTP/0.9-style answer as invalid with its bytes', async () => {
    const srv = await server((_got, socket) => socket.end('<html>hi</html>'));
    await using conn = await RawHttpConnection.open({ host: '127.0.0.1', port: srv.port, tls: false, serverName: 'x' }, 2_000);
    await conn.write([b('GET /\r\n')]);
    expect(await conn.read(2_000)).toMatchObject({ kind: 'invalid', reason: 'no HTTP/1.x status line' });
  });
});
