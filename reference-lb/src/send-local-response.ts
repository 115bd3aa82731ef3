import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** How long a connection closed with an unread request body keeps draining it (nginx `lingering_time`). */
const LINGER_MS = 5000;

/**
 * Replaces the socket's destroySoon, which node's server calls after a `Connection: close`
 * response: half-close and keep reading for a while instead of closing at once, because
 * closing with unread request bytes makes the kernel send a RST that can wipe the
 * response out of the client's receive buffer before the client reads it.
 */
export function lingerOnClose(socket: Socket, req?: IncomingMessage): void {
  socket.destroySoon = function lingeringDestroySoon(this: Socket): void {
    this.end();
    // Discard whatever of the request body still arrives.
    req?.resume();
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
    this.once('end', () => this.destroy());
  };
}

/**
 * Answers from the LB itself (errors, redirects, 404). When the request body has not
 * been read to its end the connection is closed after the response, lingering so the
 * client still sees the response; otherwise it stays open for the next request.
 */
export function sendLocalResponse(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  bodyPending: boolean,
  extraHeaders?: Record<string, string>,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${status} ${STATUS_CODES[status] ?? ''}\n`;
  const headers: Record<string, string | number> = {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    ...extraHeaders,
  };
  const closing = bodyPending && !req.complete;
  if (closing) {
    headers['Connection'] = 'close';
    req.unpipe();
    req.removeAllListeners('data');
    req.resume();
    lingerOnClose(req.socket);
  }
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * The same for a request whose connection node has handed over raw (an Upgrade
 * request): the response is written by hand and the connection closed after it,
 * lingering like above.
 */
export function sendLocalSocketResponse(socket: Socket, status: number, method: string | undefined, extraHeaders?: Record<string, string>): void {
  if (socket.destroyed) return;
  const body = `${status} ${STATUS_CODES[status] ?? ''}\n`;
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nDate: ${new Date().toUTCString()}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n`;
  for (const [name, value] of Object.entries(extraHeaders ?? {})) head += `${name}: ${value}\r\n`;
  socket.write(`${head}\r\n${method === 'HEAD' ? '' : body}`, 'latin1');
  lingerOnClose(socket);
  socket.destroySoon();
  // Whatever else the client sends is read and dropped until it closes (or the linger time is up).
  socket.resume();
}
