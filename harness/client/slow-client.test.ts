import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Endpoint } from './lb-client.ts';
import { sendSlowly } from './slow-client.ts';

/** A raw server that does `onBytes` with everything it has received so far. */
async function rawServer(onBytes: (socket: net.Socket, received: Buffer) => void): Promise<{ endpoint: Endpoint; received: () => Buffer; server: net.Server }> {
  let all = Buffer.alloc(0);
  const server = net.createServer((s) => s.on('data', (d: Buffer) => onBytes(s, (all = Buffer.concat([all, d])))));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { endpoint: { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, tls: false, serverName: 'localhost', originalPort: 80 }, received: () => all, server };
}

const servers: net.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

describe('sendSlowly', () => {
  it('drips a byte at a time and stops at the first answer', async () => {
    const { endpoint, received, server } = await rawServer((s, got) => {
      if (got.length >= 5) s.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
    });
    servers.push(server);
    const result = await sendSlowly({ endpoint, ca: '', head: Buffer.alloc(0), drip: Buffer.from('GET / HTTP/1.1\r\n'), dripIntervalMs: 5, deadlineMs: 5000 });
    expect(result).toMatchObject({ outcome: 'answered', status: 408 });
    expect(received().toString()).toBe('GET /');
    expect(result.bytesSent).toBeGreaterThanOrEqual(5);
  });

  it('reports a silent close, and the deadline when nothing happens', async () => {
    const closing = await rawServer((s, got) => {
      if (got.length >= 10) s.destroy();
    });
    servers.push(closing.server);
    expect((await sendSlowly({ endpoint: closing.endpoint, ca: '', head: Buffer.from('POST / HTTP/1.1\r\n'), drip: Buffer.alloc(0), dripIntervalMs: 0, deadlineMs: 5000 })).outcome).toMatch(/^(closed|reset)$/);
    const silent = await rawServer(() => undefined);
    servers.push(silent.server);
    const result = await sendSlowly({ endpoint: silent.endpoint, ca: '', head: Buffer.from('POST / HTTP/1.1\r\n'), drip: Buffer.alloc(0), dripIntervalMs: 0, deadlineMs: 50 });
    expect(result).toMatchObject({ outcome: 'deadline', bytesSent: 17 });
    expect(result.cutAtMs).toBeUndefined();
  });
});
