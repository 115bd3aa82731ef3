import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BufferingConfig, TimeoutsConfig } from './config-schema.ts';
import type { EventSink } from './events.ts';
import { ProxyExchange } from './proxy-exchange.ts';
import type { RedirectAction, Router } from './router.ts';
import { sendLocalResponse } from './send-local-response.ts';

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

/** Routes each request of one listener: proxy, redirect, deny, or 404. */
export class ProxyHandler {
  readonly context: ListenerContext;
  private readonly router: Router;

  constructor(router: Router, context: ListenerContext) {
    this.router = router;
    this.context = context;
  }

  /** The `'request'` listener of the listener's server. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    let target = req.url ?? '/';
    if (target.charCodeAt(0) !== 47 /* "/" */) {
      const m = ABSOLUTE_FORM.exec(target);
      if (!m) {
        sendLocalResponse(req, res, 400, announcesBody(req));
        return;
      }
      target = target.slice(m[0].length);
      if (target.charCodeAt(0) !== 47) target = `/${target}`;
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

  private redirect(req: IncomingMessage, res: ServerResponse, action: RedirectAction, path: string, query: string): void {
    const httpHost = req.headers.host;
    const location = action.location.render({
      scheme: this.context.scheme,
      host: httpHost ? hostWithoutPort(httpHost) : this.context.fallbackHost,
      http_host: httpHost ?? this.context.fallbackHost,
      server_port: this.context.serverPort,
      request_uri: path + query,
      path,
      query: query.slice(1),
      is_args: query === '' ? '' : '?',
    });
    sendLocalResponse(req, res, action.status, announcesBody(req), { Location: location });
  }
}
