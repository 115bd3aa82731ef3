import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { BufferingConfig, TimeoutsConfig } from './config-schema.ts';
import type { EventSink } from './events.ts';
import { ProxyExchange } from './proxy-exchange.ts';
import type { RedirectAction, Router } from './router.ts';
import { sendLocalResponse, sendLocalSocketResponse } from './send-local-response.ts';
import { UpgradeExchange } from './upgrade-exchange.ts';

/** Everything about a listener that request handling needs; shared by all its requests. */
export interface ListenerContext {
  listenerName: string;
  scheme: 'http' | 'https';
  /** The bound port, as a string for templates. */
  serverPort: string;
  /** Host for {host}, Host and X-Forwarded-Host when the request has none. */
  fallbackHost: string;
  timeouts: TimeoutsConfig;
  maxBodyBytes: number;
  buffering: BufferingConfig;
  onEvent: EventSink | undefined;
}

/** Absolute-form request target (RFC 9112 §3.2.2): scheme and authority before the path. */
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;

/** True when the request head announces a body. */
function announcesBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

/** nginx `$host`: the Host header without its port, lower-cased. */
function hostWithoutPort(hostHeader: string): string {
  const end = hostHeader.startsWith('[') ? hostHeader.indexOf(']') + 1 : hostHeader.indexOf(':');
  return (end > 0 ? hostHeader.slice(0, end) : hostHeader).toLowerCase();
}

/** The origin-form target (path and query) of a request; undefined when it is unusable. */
function originForm(req: IncomingMessage): string | undefined {
  const target = req.url ?? '/';
  if (target.charCodeAt(0) === 47 /* "/" */) return target;
  const m = ABSOLUTE_FORM.exec(target);
  if (!m) return undefined;
  const rest = target.slice(m[0].length);
  return rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
}

function ignoreError(): void {}

/** Routes each request of one listener: proxy, redirect, deny, or 404. */
export class ProxyHandler {
  readonly context: ListenerContext;
  private readonly router: Router;
  /** Upgrade requests and tunnels in progress: node no longer tracks their connections. */
  private readonly upgrades = new Set<UpgradeExchange>();

  constructor(router: Router, context: ListenerContext) {
    this.router = router;
    this.context = context;
  }

  /** The `'request'` listener of the listener's server. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const target = originForm(req);
    if (target === undefined) {
      sendLocalResponse(req, res, 400, announcesBody(req));
      return;
    }
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const query = q < 0 ? '' : target.slice(q);
    const action = this.router.match(path);
    if (action === undefined) {
      sendLocalResponse(req, res, 404, announcesBody(req));
    } else if (action.kind === 'proxy') {
      new ProxyExchange(this.context, req, res, action, path, query).start();
    } else if (action.kind === 'redirect') {
      this.redirect(req, res, action, path, query);
    } else {
      // nginx `return 444`: no status line, no bytes at all.
      req.socket.destroy();
    }
  };

  /**
   * The `'upgrade'` listener: a request with `Connection: upgrade` and `Upgrade` (a
   * WebSocket handshake) whose connection node hands over raw. Routed like any request;
   * a proxy route tunnels it (UpgradeExchange), everything else is answered and closed.
   */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const client = socket as Socket;
    client.on('error', ignoreError);
    const target = originForm(req);
    // A WebSocket handshake is a GET without a body (RFC 6455 §4.1); a body would arrive raw in the tunnel.
    if (target === undefined || announcesBody(req)) {
      sendLocalSocketResponse(client, 400, req.method);
      return;
    }
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const query = q < 0 ? '' : target.slice(q);
    const action = this.router.match(path);
    if (action === undefined) {
      sendLocalSocketResponse(client, 404, req.method);
    } else if (action.kind === 'proxy') {
      new UpgradeExchange(this.context, req, client, head, action, path, query, this.upgrades).start();
    } else if (action.kind === 'redirect') {
      sendLocalSocketResponse(client, action.status, req.method, { Location: this.location(req, action, path, query) });
    } else {
      client.destroy();
    }
  };

  /** Destroys every upgrade in progress and every tunnel (the LB is closing). */
  closeUpgrades(): void {
    for (const exchange of [...this.upgrades]) exchange.destroy();
  }

  private redirect(req: IncomingMessage, res: ServerResponse, action: RedirectAction, path: string, query: string): void {
    sendLocalResponse(req, res, action.status, announcesBody(req), { Location: this.location(req, action, path, query) });
  }

  private location(req: IncomingMessage, action: RedirectAction, path: string, query: string): string {
    const httpHost = req.headers.host;
    return action.location.render({
      scheme: this.context.scheme,
      host: httpHost ? hostWithoutPort(httpHost) : this.context.fallbackHost,
      http_host: httpHost ?? this.context.fallbackHost,
      server_port: this.context.serverPort,
      request_uri: path + query,
      path,
      query: query.slice(1),
      is_args: query === '' ? '' : '?',
    });
  }
}
