import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { AuthenticatedUser } from './basic-auth.ts';
import type { BufferingConfig, LimitsConfig, TimeoutsConfig } from './config-schema.ts';
import type { EventSink } from './events.ts';
import type { HeaderRules } from './header-rules.ts';
import { ProxyExchange } from './proxy-exchange.ts';
import { REFUSE } from './rate-limiter.ts';
import { gateRequest } from './request-gate.ts';
import { proxyTarget, type CompiledRoute, type RedirectAction, type Router } from './router.ts';
import { sendLocalResponse, sendLocalSocketResponse, type LocalResponseOptions } from './send-local-response.ts';
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
  /** Request line and head limits the request gate enforces. */
  limits: LimitsConfig;
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

function routeUnlessAborted(handler: ProxyHandler, req: IncomingMessage, res: ServerResponse): void {
  if (!req.socket.destroyed) handler.routeRequest(req, res);
}

/** A request held by a rate limit without `nodelay`, until it conforms. */
interface Delayed {
  timer: NodeJS.Timeout;
}

function rulesOnly(rules: HeaderRules | undefined): LocalResponseOptions | undefined {
  return rules === undefined ? undefined : { rules };
}

/**
 * Routes each request of one listener: the first matching route's rate limit, then its
 * basic auth, then its action (proxy, redirect, respond, deny); no route: 404.
 */
export class ProxyHandler {
  readonly context: ListenerContext;
  private readonly router: Router;
  /** Upgrade requests and tunnels in progress: node no longer tracks their connections. */
  private readonly upgrades = new Set<UpgradeExchange>();
  /** Requests a rate limit is holding back. */
  private readonly delayed = new Set<Delayed>();

  constructor(router: Router, context: ListenerContext) {
    this.router = router;
    this.context = context;
  }

  /** The `'request'` listener of the listener's server. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const refusal = gateRequest(req, this.context.limits, false);
    if (refusal !== undefined) {
      sendLocalResponse(req, res, refusal.status, true, { close: true, rules: this.router.responseHeaders });
      return;
    }
    // llhttp hands over the head before it parses the body bytes that came with it: a
    // body with broken framing in the same packet destroys the connection within this
    // turn, so routing on the next one keeps such a request from ever reaching an upstream.
    if (announcesBody(req)) setImmediate(routeUnlessAborted, this, req, res);
    else this.routeRequest(req, res);
  };

  /** Routes a request the gate let through (public for the deferred call only). */
  routeRequest(req: IncomingMessage, res: ServerResponse): void {
    const target = originForm(req);
    if (target === undefined) {
      sendLocalResponse(req, res, 400, announcesBody(req), rulesOnly(this.router.responseHeaders));
      return;
    }
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const query = q < 0 ? '' : target.slice(q);
    const route = this.router.match(path, req.method ?? 'GET', req.rawHeaders);
    if (route === undefined) {
      sendLocalResponse(req, res, 404, announcesBody(req), rulesOnly(this.router.responseHeaders));
      return;
    }
    if (route.rateLimit !== undefined) {
      const delayMs = route.rateLimit.admit(req);
      if (delayMs === REFUSE) {
        sendLocalResponse(req, res, route.rateLimit.status, announcesBody(req), rulesOnly(route.responseHeaders));
        return;
      }
      if (delayMs > 0) {
        this.hold(res, delayMs, () => this.serve(req, res, route, path, query));
        return;
      }
    }
    this.serve(req, res, route, path, query);
  }

  /**
   * nginx `limit_req` without `nodelay`: the request waits (unread) for `delayMs`, then
   * goes on; a client that leaves meanwhile is forgotten. `closer` emits 'close' when
   * the client goes: the response, or the raw socket of an Upgrade request.
   */
  private hold(closer: NodeJS.EventEmitter & { destroyed: boolean }, delayMs: number, then: () => void): void {
    const delayed: Delayed = {
      timer: setTimeout(() => {
        this.delayed.delete(delayed);
        closer.off('close', onClose);
        if (!closer.destroyed) then();
      }, delayMs),
    };
    const onClose = (): void => {
      clearTimeout(delayed.timer);
      this.delayed.delete(delayed);
    };
    closer.once('close', onClose);
    this.delayed.add(delayed);
  }

  /** Auth, then the route's action. */
  private serve(req: IncomingMessage, res: ServerResponse, route: CompiledRoute, path: string, query: string): void {
    let user: AuthenticatedUser | undefined;
    if (route.auth !== undefined) {
      user = route.auth.authenticate(req.rawHeaders);
      if (user === undefined) {
        sendLocalResponse(req, res, 401, announcesBody(req), { headers: ['WWW-Authenticate', route.auth.challenge], rules: route.responseHeaders });
        return;
      }
    }
    const action = route.action;
    switch (action.kind) {
      case 'proxy': {
        const pool = proxyTarget(action, req, path, user);
        if (pool === undefined) {
          // HAProxy: a use_backend naming no backend, and no default_backend, is a 503.
          sendLocalResponse(req, res, 503, announcesBody(req), rulesOnly(route.responseHeaders));
          return;
        }
        new ProxyExchange(this.context, req, res, action, pool, route.responseHeaders, path, query).start();
        return;
      }
      case 'redirect':
        sendLocalResponse(req, res, action.status, announcesBody(req), { headers: ['Location', this.location(req, action, path, query)], rules: route.responseHeaders });
        return;
      case 'respond':
        sendLocalResponse(req, res, action.status, announcesBody(req), { headers: action.headers, body: action.body, rules: route.responseHeaders });
        return;
      case 'deny':
        // nginx `return 444`: no status line, no bytes at all.
        req.socket.destroy();
    }
  }

  /**
   * The `'upgrade'` listener: a request with `Connection: upgrade` and `Upgrade` (a
   * WebSocket handshake) whose connection node hands over raw. Routed, limited and
   * authenticated like any request; a proxy route tunnels it (UpgradeExchange),
   * everything else is answered and closed.
   */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const client = socket as Socket;
    client.on('error', ignoreError);
    const refusal = gateRequest(req, this.context.limits, true);
    if (refusal !== undefined) {
      sendLocalSocketResponse(client, refusal.status, req.method, rulesOnly(this.router.responseHeaders));
      return;
    }
    const target = originForm(req);
    // A WebSocket handshake is a GET without a body (RFC 6455 §4.1); a body would arrive raw in the tunnel.
    if (target === undefined || announcesBody(req)) {
      sendLocalSocketResponse(client, 400, req.method, rulesOnly(this.router.responseHeaders));
      return;
    }
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const query = q < 0 ? '' : target.slice(q);
    const route = this.router.match(path, req.method ?? 'GET', req.rawHeaders);
    if (route === undefined) {
      sendLocalSocketResponse(client, 404, req.method, rulesOnly(this.router.responseHeaders));
      return;
    }
    if (route.rateLimit !== undefined) {
      const delayMs = route.rateLimit.admit(req);
      if (delayMs === REFUSE) {
        sendLocalSocketResponse(client, route.rateLimit.status, req.method, rulesOnly(route.responseHeaders));
        return;
      }
      if (delayMs > 0) {
        this.hold(client, delayMs, () => this.serveUpgrade(req, client, head, route, path, query));
        return;
      }
    }
    this.serveUpgrade(req, client, head, route, path, query);
  };

  private serveUpgrade(req: IncomingMessage, client: Socket, head: Buffer, route: CompiledRoute, path: string, query: string): void {
    const rules = route.responseHeaders;
    let user: AuthenticatedUser | undefined;
    if (route.auth !== undefined) {
      user = route.auth.authenticate(req.rawHeaders);
      if (user === undefined) {
        sendLocalSocketResponse(client, 401, req.method, { headers: ['WWW-Authenticate', route.auth.challenge], rules });
        return;
      }
    }
    const action = route.action;
    switch (action.kind) {
      case 'proxy': {
        const pool = proxyTarget(action, req, path, user);
        if (pool === undefined) sendLocalSocketResponse(client, 503, req.method, rulesOnly(rules));
        else new UpgradeExchange(this.context, req, client, head, action, pool, rules, path, query, this.upgrades).start();
        return;
      }
      case 'redirect':
        sendLocalSocketResponse(client, action.status, req.method, { headers: ['Location', this.location(req, action, path, query)], rules });
        return;
      case 'respond':
        sendLocalSocketResponse(client, action.status, req.method, { headers: action.headers, body: action.body, rules });
        return;
      case 'deny':
        client.destroy();
    }
  }

  /** Destroys every upgrade in progress and every tunnel, and drops held requests (the LB is closing). */
  closeUpgrades(): void {
    for (const exchange of [...this.upgrades]) exchange.destroy();
    for (const d of this.delayed) clearTimeout(d.timer);
    this.delayed.clear();
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
