import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startBackend, type StartedBackend } from '../../fixtures/backend/index.ts';
import { crashFault } from './crash.ts';
import { FaultProxy } from './fault-proxy.ts';
import type { FaultContext } from './fault.ts';
import { stopFault } from './stop.ts';

const HOST = '127.0.79.1';
const ctx: FaultContext = { seed: 1, signal: new AbortController().signal };

function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    socket.on('connect', () => {
      socket.write('GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    });
    let data = '';
    socket.on('data', (d) => (data += d.toString()));
    socket.on('end', () => resolve(data.split('\r\n')[0] ?? ''));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('process faults behind the TCP fault proxy', () => {
  let backend: StartedBackend | undefined;
  let proxy: FaultProxy | undefined;
  afterEach(async () => {
    await proxy?.close();
    await backend?.close();
  });

  for (const kind of [stopFault, crashFault]) {
    it(`${kind.type}: the LB's connects to the proxy are refused, as by the dead backend itself; undo serves again`, async () => {
      backend = await startBackend({ id: 'b1', host: HOST, port: 0 });
      proxy = await FaultProxy.start({ listenHost: HOST, upstreamHost: HOST, upstreamPort: backend.port, name: 'b1' });
      expect(await connectOutcome(proxy.port)).toBe('HTTP/1.1 200 OK');
      const fault = await kind.apply({ name: 'b1', backend, proxy }, { attributes: {}, stream: 'downstream', toxicity: 1 }, ctx);
      expect(await connectOutcome(proxy.port)).toBe('ECONNREFUSED');
      await fault.undo();
      expect(await connectOutcome(proxy.port)).toBe('HTTP/1.1 200 OK');
    });
  }
});
