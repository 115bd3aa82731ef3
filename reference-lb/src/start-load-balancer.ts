import { mkdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { startAdminApi, type StartedAdminApi } from './admin-api.ts';
import { LEGACY_TLS_VERSIONS, type LbConfig, type ListenerConfig } from './config-schema.ts';
import { LbError } from './errors.ts';
import type { AdminInfo, EventSink, ListenerInfo } from './events.ts';
import { parseHostPort } from './host-port.ts';
import { MapRegistry } from './map-registry.ts';
import { ProxyHandler } from './proxy-handler.ts';
import { Router } from './router.ts';
import { createMaps } from './upstream-map.ts';
import { UpstreamMonitor } from './upstream-monitor.ts';
import { UpstreamPool } from './upstream-pool.ts';

/** Options that are not part of the config file. */
export interface StartOptions {
  /** Receives upstream errors, server-state changes and other events; main.ts prints them as JSON lines. */
  onEvent?: EventSink;
  /** Pools built beforehand (a cluster worker does, to follow the primary's state from the start); closed with the LB. */
  pools?: ReadonlyMap<string, UpstreamPool>;
  /** Maps built beforehand on `pools` (a cluster worker follows the primary's map changes on them). */
  maps?: MapRegistry;
  /** Clock of the rate limiters, ms on a monotonic scale; tests inject one. */
  now?: () => number;
  /**
   * Server state is owned elsewhere (the cluster primary): no health checks, passive
   * ejection or admin API here; the caller sets `onFailure` on the pools and applies
   * the owner's changes.
   */
  externalState?: boolean;
}

/** A running load balancer: every listener is bound. */
export interface StartedLoadBalancer extends AsyncDisposable {
  readonly listeners: readonly ListenerInfo[];
  /** The upstream pools by name, with their per-server state. */
  readonly pools: ReadonlyMap<string, UpstreamPool>;
  /** Owns health checks, passive ejection and admin changes; undefined with `externalState`. */
  readonly monitor: UpstreamMonitor | undefined;
  /** Where the admin API listens, when the config has `admin` (and state is not external). */
  readonly admin: AdminInfo | undefined;
  /** The maps; `maps.update(...)` is what the admin API calls. */
  readonly maps: MapRegistry;
  /** Stops accepting, destroys open client and upstream connections; resolves when the listeners are closed. */
  close(): Promise<void>;
}

/** Socket read/write buffer for client connections: large enough that multi-GiB bodies move in few, big chunks. */
const STREAM_HIGH_WATER_MARK_BYTES = 64 * 1024;

type AnyServer = http.Server | https.Server;

async function readTlsFile(file: string, field: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new LbError('LB_ERR_TLS', `reference-lb config: ${field}: cannot read ${JSON.stringify(file)}: ${reason}`, { cause: err });
  }
}

async function createListenerServer(listener: ListenerConfig, index: number, handler: ProxyHandler, config: LbConfig): Promise<AnyServer> {
  const options: http.ServerOptions = {
    noDelay: true,
    keepAlive: true,
    keepAliveInitialDelay: 60_000,
    // Long uploads must not be cut by node's 300 s default; body silence is `send_ms`.
    requestTimeout: 0,
    headersTimeout: config.timeouts.client_header_ms,
    // node checks headersTimeout only this often (30 s by default): a slow head is cut within client_header_ms + this.
    connectionsCheckingInterval: Math.min(1000, config.timeouts.client_header_ms),
    // llhttp answers a larger head with 431 before any 'request' event.
    maxHeaderSize: config.limits.header_bytes,
    highWaterMark: STREAM_HIGH_WATER_MARK_BYTES,
  };
  let server: AnyServer;
  if (listener.tls) {
    const [cert, key] = await Promise.all([
      readTlsFile(listener.tls.cert, `listeners[${index}].tls.cert`),
      readTlsFile(listener.tls.key, `listeners[${index}].tls.key`),
    ]);
    try {
      const minVersion = listener.tls.min_version;
      const legacy = LEGACY_TLS_VERSIONS.includes(minVersion) ? { ciphers: 'DEFAULT@SECLEVEL=0' } : {};
      server = https.createServer({ ...options, cert, key, minVersion, ...legacy, ALPNProtocols: ['http/1.1'] }, handler.handle);
    } catch (err) {
      throw new LbError('LB_ERR_TLS', `reference-lb config: listeners[${index}].tls: ${(err as Error).message}`, { cause: err });
    }
  } else {
    server = http.createServer(options, handler.handle);
  }
  server.keepAliveTimeout = config.timeouts.client_idle_ms;
  server.timeout = 0;
  // One field more than allowed is kept, so the request gate sees the excess: node would drop it silently.
  server.maxHeadersCount = config.limits.header_count + 1;
  server.on('upgrade', handler.handleUpgrade);
  return server;
}

function listen(server: AnyServer, host: string, port: number, field: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new LbError('LB_ERR_LISTEN', `reference-lb: ${field}: cannot listen on ${host}:${port}: ${err.code ?? err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

function closeServer(server: AnyServer): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Starts every listener of a validated config; rejects with LbError (LB_ERR_TLS, LB_ERR_LISTEN) if one cannot start. */
export async function startLoadBalancer(config: LbConfig, options: StartOptions = {}): Promise<StartedLoadBalancer> {
  const pools = options.pools ?? createPools(config);
  const monitor = options.externalState ? undefined : new UpstreamMonitor(pools, { onEvent: options.onEvent });
  const maps = options.maps ?? new MapRegistry(createMaps(config.maps, pools), { onEvent: options.externalState ? undefined : options.onEvent });
  let admin: StartedAdminApi | undefined;

  const servers: AnyServer[] = [];
  const handlers: ProxyHandler[] = [];
  const listeners: ListenerInfo[] = [];
  const stop = async (): Promise<void> => {
    monitor?.close();
    // Upgraded connections are no longer node's: server.close() would wait for every tunnel.
    for (const h of handlers) h.closeUpgrades();
    await Promise.all([...servers.map(closeServer), admin?.close()]);
    await Promise.all([...pools.values()].map((p) => p.close()));
  };
  try {
    if (config.buffering.temp_dir !== undefined) await mkdir(config.buffering.temp_dir, { recursive: true });
    if (monitor && config.admin) admin = await startAdminApi(config.admin, monitor, { maps });
    for (const [index, listener] of config.listeners.entries()) {
      const bind = parseHostPort(listener.bind);
      if (!bind) throw new LbError('LB_ERR_CONFIG', `reference-lb config: listeners[${index}].bind: expected host:port, got ${JSON.stringify(listener.bind)}`);
      const router = new Router(
        listener.routes,
        pools,
        { preserveHost: config.headers.preserve_host, forwarded: config.headers.forwarded },
        { maps: maps.maps, responseHeaders: listener.response_headers, now: options.now },
      );
      const handler = new ProxyHandler(router, {
        listenerName: listener.name,
        scheme: listener.tls ? 'https' : 'http',
        serverPort: String(bind.port),
        fallbackHost: listener.server_names[0] ?? bind.host,
        timeouts: config.timeouts,
        maxBodyBytes: config.limits.max_body_bytes,
        limits: config.limits,
        buffering: config.buffering,
        onEvent: options.onEvent,
      });
      handlers.push(handler);
      const server = await createListenerServer(listener, index, handler, config);
      servers.push(server);
      const address = await listen(server, bind.host, bind.port, `listeners[${index}].bind`);
      handler.context.serverPort = String(address.port);
      listeners.push({ name: listener.name, host: address.address, port: address.port, tls: listener.tls !== undefined });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  monitor?.start();

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= stop());
  const adminInfo = admin ? { host: admin.host, port: admin.port } : undefined;
  return { listeners, pools, monitor, admin: adminInfo, maps, close, [Symbol.asyncDispose]: close };
}

/** One UpstreamPool per configured upstream. */
export function createPools(config: LbConfig): Map<string, UpstreamPool> {
  const pools = new Map<string, UpstreamPool>();
  for (const [name, upstream] of Object.entries(config.upstreams)) pools.set(name, new UpstreamPool(name, upstream, config.timeouts));
  return pools;
}
