import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LbClient, type Endpoint } from './lb-client.ts';

/**
 * A raw HTTP/1.1 server that answers the first `answered` requests of each connection with
 * keep-alive and closes the connection, unanswered, when the next one arrives: what an nginx
 * worker in graceful shutdown does to an idle keep-alive connection a request is already on.
 */
async function closingServer(answered: number): Promise<{ endpoint: Endpoint; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let onThis = 0;
    socket.on('data', (chunk) => {
      for (let i = 0; i < chunk.toString('latin1').split('\r\n\r\n').length - 1; i++) {
        requests++;
        if (++onThis > answered) {
          socket.destroy();
          return;
        }
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    endpoint: { host: '127.0.0.1', port, tls: false, serverName: 'localhost', originalPort: 80 },
    requests: () => requests,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

const open: Array<{ close: () => Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
});

/** Lets undici put the connection back in its pool, so that the next request reuses it. */
const settle = () => new Promise((r) => setTimeout(r, 20));

function client(): LbClient {
  const c = new LbClient({ ca: '', localAddress: '127.0.0.1' });
  open.push({ close: () => c.close() });
  return c;
}

describe('LbClient.send retryOnKeepAliveClose', () => {
  it('sends a GET again when its reused keep-alive connection closes unanswered, and says so', async () => {
    const server = await closingServer(1);
    open.push(server);
    const c = client();
    expect((await c.send(server.endpoint, { path: '/', headers: { 'x-lbdrill-id': 'a' } }, { retryOnKeepAliveClose: true })).status).toBe(200);
    await settle();
    const second = await c.send(server.endpoint, { path: '/', headers: { 'x-lbdrill-id': 'b' } }, { retryOnKeepAliveClose: true });
    expect(second.status).toBe(200);
    expect(second.retriedAfter).toEqual({ kind: 'closed-without-response', connectionUse: 2 });
    expect(server.requests()).toBe(3);
  });

  it('without the option the same close is an error', async () => {
    const server = await closingServer(1);
    open.push(server);
    const c = client();
    await c.send(server.endpoint, { path: '/', headers: { 'x-lbdrill-id': 'a' } });
    await settle();
    const second = await c.send(server.endpoint, { path: '/', headers: { 'x-lbdrill-id': 'b' } });
    expect(second.error?.kind).toBe('closed-without-response');
    expect(second.retriedAfter).toBeUndefined();
  });

  it('never retries a request on a new connection, nor a POST', async () => {
    const server = await closingServer(0);
    open.push(server);
    const c = client();
    const fresh = await c.send(server.endpoint, { path: '/', headers: { 'x-lbdrill-id': 'a' } }, { retryOnKeepAliveClose: true });
    expect(fresh.error?.kind).toBe('closed-without-response');
    expect(server.requests()).toBe(1);

    const once = await closingServer(1);
    open.push(once);
    await c.send(once.endpoint, { path: '/', headers: { 'x-lbdrill-id': 'c' } }, { retryOnKeepAliveClose: true });
    await settle();
    const post = await c.send(once.endpoint, { method: 'POST', path: '/', body: 'x', headers: { 'x-lbdrill-id': 'd' } }, { retryOnKeepAliveClose: true });
    expect(post.error).toBeDefined();
    expect(once.requests()).toBe(2);
  });
});
