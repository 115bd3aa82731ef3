import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { HeaderRules } from './header-rules.ts';

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

/** What a local response carries besides its status. */
export interface LocalResponseOptions {
  /** Extra fields [name, value, ...]; with `body`, Content-Type must be among them. */
  headers?: readonly string[];
  /** The body; default `<status> <reason>\n` as text/plain. */
  body?: Buffer;
  /** Response header rules of the route or listener. */
  rules?: HeaderRules | undefined;
  /** Close the connection after the response even when the request was read to its end (a refused request head). */
  close?: boolean;
}

const NO_OPTIONS: LocalResponseOptions = {};

/** Statuses sent without a body or Content-Length (RFC 9110 §8.6, §15.3.5, §15.4.5). */
function bodyless(status: number): boolean {
  return status === 204 || status === 304;
}

/** The head fields and body of a local response, header rules applied. */
function localHead(status: number, options: LocalResponseOptions): { headers: string[]; body: Buffer | string } {
  const body = options.body ?? `${status} ${STATUS_CODES[status] ?? ''}\n`;
  const headers: string[] = options.body === undefined ? ['Content-Type', 'text/plain; charset=utf-8'] : [];
  if (options.headers !== undefined) for (const h of options.headers) headers.push(h);
  if (!bodyless(status)) headers.push('Content-Length', String(Buffer.byteLength(body)));
  options.rules?.apply(headers);
  return { headers, body };
}

/**
 * Answers from the LB itself (errors, redirects, 404, `respond` routes). When the request
 * body has not been read to its end the connection is closed after the response,
 * lingering so the client still sees the response; otherwise it stays open for the next
 * request.
 */
export function sendLocalResponse(req: IncomingMessage, res: ServerResponse, status: number, bodyPending: boolean, options: LocalResponseOptions = NO_OPTIONS): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { headers, body } = localHead(status, options);
  const closing = options.close === true || (bodyPending && !req.complete);
  if (closing) {
    headers.push('Connection', 'close');
    req.unpipe();
    req.removeAllListeners('data');
    req.resume();
    lingerOnClose(req.socket);
  }
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' || bodyless(status) ? undefined : body);
}

/**
 * The same for a request whose connection node has handed over raw (an Upgrade
 * request): the response is written by hand and the connection closed after it,
 * lingering like above.
 */
export function sendLocalSocketResponse(socket: Socket, status: number, method: string | undefined, options: LocalResponseOptions = NO_OPTIONS): void {
  if (socket.destroyed) return;
  const { headers, body } = localHead(status, options);
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nDate: ${new Date().toUTCString()}\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  socket.write(`${head}Connection: close\r\n\r\n`, 'latin1');
  if (method !== 'HEAD' && !bodyless(status)) socket.write(body);
  lingerOnClose(socket);
  socket.destroySoon();
  // Whatever else the client sends is read and dropped until it closes (or the linger time is up).
  socket.resume();
}
