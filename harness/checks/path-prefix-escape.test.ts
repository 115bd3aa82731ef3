import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LbClient, type Endpoint } from '../client/lb-client.ts';
import { ESCAPE_VECTORS } from './path-prefix-escape.ts';

/** The vectors only mean something if they leave lbdrill byte for byte: a raw server reads the request line. */
describe('path.prefix-escape vectors on the wire', () => {
  const lines: string[] = [];
  let server: net.Server;
  let endpoint: Endpoint;
  beforeAll(async () => {
    server = net.createServer((s) =>
      s.once('data', (d: Buffer) => {
        lines.push(d.toString('latin1').split('\r\n')[0] as string);
        s.end('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n');
      }),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, tls: false, serverName: 'localhost', originalPort: 80 };
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('LbClient writes each path exactly as given (no normalisation, no re-encoding)', async () => {
    await using client = new LbClient({ ca: '' });
    for (const path of [...ESCAPE_VECTORS, '/api/a%2Fb']) {
      const res = await client.send(endpoint, { path }, { fresh: true });
      expect(res.status, path).toBe(204);
    }
    expect(lines).toEqual([...ESCAPE_VECTORS, '/api/a%2Fb'].map((p) => `GET ${p} HTTP/1.1`));
  });
});
