import net from 'node:net';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SocketProbe, startTcpServer, until, within } from '../faults/network-test-kit.ts';
import { REPO_ROOT } from '../paths.ts';
import { FORWARDER_READY, parseEndpoint, startHostForwarder } from './host-forwarder.ts';

const EVENT_MS = 2000;

describe('host forwarder', () => {
  it('pipes bytes both ways and passes a half-close on, so the other direction keeps flowing', async () => {
    await using upstream = await startTcpServer();
    await using forwarder = await startHostForwarder({ host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: upstream.port });
    const accepted = upstream.nextConnection();
    const client = await SocketProbe.connect(forwarder.port);
    const server = new SocketProbeOf(await within(accepted, EVENT_MS, 'upstream accept'));

    await client.send('request');
    client.socket.end(); // FIN from the client
    await within(server.ended, EVENT_MS, 'FIN at upstream');
    expect(server.text()).toBe('request');

    server.socket.write('response after the client FIN');
    await within(client.waitForBytes('response after the client FIN'.length), EVENT_MS, 'response');
    server.socket.end();
    await within(client.ended, EVENT_MS, 'FIN at client');
    expect(client.data().toString()).toBe('response after the client FIN');
    expect((await within(client.closed, EVENT_MS, 'close')).error).toBeUndefined();
  });

  it('turns an upstream reset into a reset', async () => {
    await using upstream = await startTcpServer((socket) => socket.resetAndDestroy());
    await using forwarder = await startHostForwarder({ host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: upstream.port });
    const client = await SocketProbe.connect(forwarder.port);
    const end = await within(client.closed, EVENT_MS, 'close');
    expect(end.error?.code).toBe('ECONNRESET');
  });

  it('resets the client when the upstream refuses', async () => {
    const closed = await startTcpServer();
    const port = closed.port;
    await closed.close();
    await using forwarder = await startHostForwarder({ host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port });
    const client = await SocketProbe.connect(forwarder.port);
    expect((await within(client.closed, EVENT_MS, 'close')).error?.code).toBe('ECONNRESET');
    await until(() => forwarder.connections === 0, EVENT_MS, 'forwarder forgets the connection');
  });

  it('as a command, prints its ready line and rejects a malformed endpoint', async () => {
    const script = join(REPO_ROOT, 'harness/netns/host-forwarder.ts');
    const good = spawn(process.execPath, ['--import', 'tsx', script, '--listen', '127.0.0.1:0', '--to', '127.0.0.1:9'], { cwd: REPO_ROOT });
    const [line] = (await within(once(good.stdout, 'data'), 15_000, 'ready line')) as [Buffer];
    expect(line.toString().trim()).toMatch(FORWARDER_READY);
    good.kill('SIGTERM');
    expect(await once(good, 'exit')).toEqual([0, null]);

    const bad = spawn(process.execPath, ['--import', 'tsx', script, '--listen', 'localhost', '--to', '127.0.0.1:9'], { cwd: REPO_ROOT });
    expect((await once(bad, 'exit'))[0]).toBe(2);
    expect(() => parseEndpoint('10.0.0.1:70000', '--to')).toThrow(/--to/);
  });
});

/** The accepted (server) side of a connection, recorded like a SocketProbe. */
class SocketProbeOf {
  readonly socket: net.Socket;
  readonly ended: Promise<void>;
  #text = '';

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => (this.#text += chunk.toString('utf8')));
    this.ended = new Promise((resolve) => socket.once('end', () => resolve()));
  }

  text(): string {
    return this.#text;
  }
}
