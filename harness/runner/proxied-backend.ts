import { startBackend, type BackendOptions, type StartedBackend } from '../../fixtures/backend/index.ts';
import { FaultProxy } from '../faults/fault-proxy.ts';
import { freePort } from './ports.ts';

/**
 * A backend behind lbdrill's TCP fault proxy: the proxy takes the address the LB's config
 * points at, the backend listens on a free port of the same loopback host. Network
 * faults (latency, reset_peer, ...) act on the proxy, on pooled connections too.
 */
export async function startProxiedBackend(options: { id: string; host: string; port: number; healthPaths: readonly string[]; seed: number; tls?: BackendOptions['tls'] }): Promise<{ backend: StartedBackend; proxy: FaultProxy }> {
  const backend = await startBackend({ id: options.id, host: options.host, port: await freePort(options.host), healthPaths: [...options.healthPaths], ...(options.tls ? { tls: options.tls } : {}) });
  try {
    const proxy = await FaultProxy.start({ listenHost: options.host, listenPort: options.port, upstreamHost: options.host, upstreamPort: backend.port, seed: options.seed, name: options.id });
    return { backend, proxy };
  } catch (err) {
    await backend.close();
    throw err;
  }
}
