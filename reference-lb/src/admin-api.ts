import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { AdminConfig } from './config-schema.ts';
import { LbError, type LbErrorCode } from './errors.ts';
import type { AdminInfo } from './events.ts';
import { parseHostPort } from './host-port.ts';
import type { UpstreamPool } from './upstream-pool.ts';
import type { TrafficCounters, UpstreamMonitor } from './upstream-monitor.ts';
import type { UpstreamServer } from './upstream-server.ts';

/** Largest request body the admin API reads. */
const MAX_BODY_BYTES = 64 * 1024;

const stateBody = z.object({ state: z.enum(['ready', 'drain', 'maint']) }).strict();
/** 0 is allowed here (unlike the config): the server keeps its state but gets no new requests, as in HAProxy. */
const weightBody = z.object({ weight: z.number().int().min(0).max(256) }).strict();

/** Options that are not in the config. */
export interface AdminApiOptions {
  /** Traffic counters summed over cluster workers; without it the monitor's pools' own counters are shown. */
  collectCounters?: () => Promise<TrafficCounters>;
}

/** A listening admin API. */
export interface StartedAdminApi extends AsyncDisposable, AdminInfo {
  close(): Promise<void>;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(text);
}

function sendError(res: http.ServerResponse, status: number, code: LbErrorCode, message: string, headers?: http.OutgoingHttpHeaders): void {
  sendJson(res, status, { error: { code, message } }, headers);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new LbError('LB_ERR_ADMIN_BAD_REQUEST', `body larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Parses a JSON body against a schema; throws LbError(LB_ERR_ADMIN_BAD_REQUEST) with a one-line message. */
async function parseBody<T>(req: http.IncomingMessage, schema: z.ZodType<T>): Promise<T> {
  const text = await readBody(req);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new LbError('LB_ERR_ADMIN_BAD_REQUEST', 'body is not JSON');
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    throw new LbError('LB_ERR_ADMIN_BAD_REQUEST', `${where}${issue?.message ?? 'invalid body'}`);
  }
  return result.data;
}

/**
 * The admin API: bearer-token HTTP/JSON on a loopback address (the config refuses any
 * other), backed by the UpstreamMonitor that owns server state.
 *
 *   GET  /v1/upstreams                                   every upstream and server
 *   POST /v1/upstreams/{upstream}/servers/{server}/state  {"state":"ready"|"drain"|"maint"}
 *   POST /v1/upstreams/{upstream}/servers/{server}/weight {"weight":0..256}
 *   GET  /v1/events                                      server-state events as NDJSON, as they happen
 */
export async function startAdminApi(config: AdminConfig, monitor: UpstreamMonitor, options: AdminApiOptions = {}): Promise<StartedAdminApi> {
  const bind = parseHostPort(config.bind);
  if (!bind) throw new LbError('LB_ERR_CONFIG', `reference-lb config: admin.bind: expected host:port, got ${JSON.stringify(config.bind)}`);
  const expected = sha256(`Bearer ${config.token}`);
  const streams = new Set<http.ServerResponse>();

  const authorized = (header: string | undefined): boolean => header !== undefined && timingSafeEqual(sha256(header), expected);

  const find = (res: http.ServerResponse, upstream: string, server: string): { pool: UpstreamPool; server: UpstreamServer } | undefined => {
    const pool = monitor.pools.get(upstream);
    if (!pool) {
      sendError(res, 404, 'LB_ERR_ADMIN_NOT_FOUND', `unknown upstream ${JSON.stringify(upstream)}`);
      return undefined;
    }
    const found = pool.findServer(server);
    if (!found) {
      sendError(res, 404, 'LB_ERR_ADMIN_NOT_FOUND', `unknown server ${JSON.stringify(server)} in upstream ${JSON.stringify(upstream)}`);
      return undefined;
    }
    return { pool, server: found };
  };

  const streamEvents = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-store' });
    res.flushHeaders();
    streams.add(res);
    const unsubscribe = monitor.subscribe((event) => res.write(`${JSON.stringify(event)}\n`));
    res.on('close', () => {
      unsubscribe();
      streams.delete(res);
    });
    req.resume();
  };

  const route = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    if (!authorized(req.headers.authorization)) {
      sendError(res, 401, 'LB_ERR_ADMIN_UNAUTHORIZED', 'missing or wrong bearer token', { 'WWW-Authenticate': 'Bearer realm="reference-lb"' });
      return;
    }
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    let parts: string[];
    try {
      parts = (q < 0 ? target : target.slice(0, q)).split('/').slice(1).map(decodeURIComponent);
    } catch {
      sendError(res, 400, 'LB_ERR_ADMIN_BAD_REQUEST', 'malformed percent-encoding in the path');
      return;
    }
    const method = req.method ?? 'GET';
    const allow = (expectedMethod: string): boolean => {
      if (method === expectedMethod) return true;
      sendError(res, 405, 'LB_ERR_ADMIN_BAD_REQUEST', `${method} not allowed here, use ${expectedMethod}`, { Allow: expectedMethod });
      return false;
    };
    if (parts.length === 2 && parts[0] === 'v1' && parts[1] === 'upstreams') {
      if (!allow('GET')) return;
      const counters = options.collectCounters ? await options.collectCounters() : undefined;
      sendJson(res, 200, monitor.describe(counters));
      return;
    }
    if (parts.length === 2 && parts[0] === 'v1' && parts[1] === 'events') {
      if (allow('GET')) streamEvents(req, res);
      return;
    }
    if (parts.length === 6 && parts[0] === 'v1' && parts[1] === 'upstreams' && parts[3] === 'servers' && (parts[5] === 'state' || parts[5] === 'weight')) {
      if (!allow('POST')) return;
      const found = find(res, parts[2] as string, parts[4] as string);
      if (!found) return;
      if (parts[5] === 'state') monitor.setAdminState(found.pool, found.server, (await parseBody(req, stateBody)).state);
      else monitor.setWeight(found.pool, found.server, (await parseBody(req, weightBody)).weight);
      const counters = options.collectCounters ? await options.collectCounters() : undefined;
      const index = found.pool.servers.indexOf(found.server);
      sendJson(res, 200, { upstream: found.pool.name, server: monitor.describeServer(found.server, counters?.[found.pool.name]?.[index]) });
      return;
    }
    sendError(res, 404, 'LB_ERR_ADMIN_NOT_FOUND', `no such endpoint: ${method} ${target}`);
  };

  const server = http.createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof LbError && err.code === 'LB_ERR_ADMIN_BAD_REQUEST') sendError(res, 400, err.code, err.message, { Connection: 'close' });
      else sendError(res, 500, 'LB_ERR_ADMIN_INTERNAL', (err as Error).message ?? String(err), { Connection: 'close' });
    });
  });

  const address = await new Promise<AddressInfo>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new LbError('LB_ERR_LISTEN', `reference-lb: admin.bind: cannot listen on ${config.bind}: ${err.code ?? err.message}`, { cause: err })),
    );
    server.listen({ host: bind.host, port: bind.port }, () => resolve(server.address() as AddressInfo));
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= new Promise<void>((resolve) => {
      for (const s of streams) s.destroy();
      server.close(() => resolve());
      server.closeAllConnections();
    }));
  return { host: address.address, port: address.port, close, [Symbol.asyncDispose]: close };
}
