import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { AdminConfig } from './config-schema.ts';
import { LbError, type LbErrorCode } from './errors.ts';
import type { AdminInfo, MapUpdateEvent } from './events.ts';
import { parseHostPort } from './host-port.ts';
import type { MapRegistry } from './map-registry.ts';
import type { UpstreamPool } from './upstream-pool.ts';
import type { ClusterCounters, UpstreamMonitor } from './upstream-monitor.ts';
import type { UpstreamServer } from './upstream-server.ts';

/** Largest request body the admin API reads. */
const MAX_BODY_BYTES = 64 * 1024;

const stateBody = z.object({ state: z.enum(['ready', 'drain', 'maint']) }).strict();
/** 0 is allowed here (unlike the config): the server keeps its state but gets no new requests, as in HAProxy. */
const weightBody = z.object({ weight: z.number().int().min(0).max(256) }).strict();
const mapEntryBody = z.object({ value: z.string().min(1, 'expected an upstream name') }).strict();
const mapEntriesBody = z.object({ entries: z.record(z.string().min(1), z.string()) }).strict();

/** Options that are not in the config. */
export interface AdminApiOptions {
  /** Traffic counters summed over cluster workers; without it the monitor's pools' own counters are shown. */
  collectCounters?: () => Promise<ClusterCounters>;
  /** The maps and the one place they change; without it the map endpoints answer 404. */
  maps?: MapRegistry;
  /** Awaited after a map change, before the answer: cluster workers confirm they have applied it. */
  afterMapChange?: () => Promise<void>;
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
 *   GET  /v1/maps                                        every map, without its entries
 *   GET  /v1/maps/{map}                                  one map with its entries
 *   PUT  /v1/maps/{map}                                  {"entries":{...}}: replace all at once
 *   PUT  /v1/maps/{map}/entries/{key}                    {"value":"<upstream>"}
 *   DELETE /v1/maps/{map}/entries/{key}
 *   POST /v1/maps/{map}/reload                           read the map file again
 *   GET  /v1/events                                      server-state and map-update events as NDJSON, as they happen
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
    const write = (event: object): void => void res.write(`${JSON.stringify(event)}\n`);
    const unsubscribe = monitor.subscribe(write);
    const unsubscribeMaps = options.maps?.subscribe(write);
    res.on('close', () => {
      unsubscribe();
      unsubscribeMaps?.();
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
    const allow = (...expected: string[]): boolean => {
      if (expected.includes(method)) return true;
      sendError(res, 405, 'LB_ERR_ADMIN_BAD_REQUEST', `${method} not allowed here, use ${expected.join(' or ')}`, { Allow: expected.join(', ') });
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
      sendJson(res, 200, { upstream: found.pool.name, server: monitor.describeServer(found.server, counters?.upstreams[found.pool.name]?.[index]) });
      return;
    }
    if (parts[0] === 'v1' && parts[1] === 'maps' && parts.length >= 2 && parts.length <= 5) {
      await routeMaps(req, res, method, parts.slice(2), allow);
      return;
    }
    sendError(res, 404, 'LB_ERR_ADMIN_NOT_FOUND', `no such endpoint: ${method} ${target}`);
  };

  /** Answers a map change with its event, once every worker has it. */
  const changed = async (res: http.ServerResponse, event: MapUpdateEvent): Promise<void> => {
    await options.afterMapChange?.();
    sendJson(res, 200, event);
  };

  /** `/v1/maps...`; `rest` is the path after `/v1/maps`, decoded. */
  const routeMaps = async (req: http.IncomingMessage, res: http.ServerResponse, method: string, rest: string[], allow: (...m: string[]) => boolean): Promise<void> => {
    const maps = options.maps;
    if (rest.length === 0) {
      if (!allow('GET')) return;
      const list = maps === undefined ? [] : [...maps.maps.values()].map((m) => ({ name: m.name, file: m.file ?? null, default: m.defaultPool?.name ?? null, version: m.version, size: m.size }));
      sendJson(res, 200, { maps: list });
      return;
    }
    if (maps === undefined) throw new LbError('LB_ERR_ADMIN_NOT_FOUND', `unknown map ${JSON.stringify(rest[0])}`);
    const name = rest[0] as string;
    if (rest.length === 1) {
      if (!allow('GET', 'PUT')) return;
      if (method === 'GET') sendJson(res, 200, maps.get(name).view());
      else {
        maps.get(name);
        await changed(res, maps.update(name, { op: 'replace', entries: (await parseBody(req, mapEntriesBody)).entries }));
      }
      return;
    }
    if (rest.length === 2 && rest[1] === 'reload') {
      if (allow('POST')) await changed(res, await maps.reload(name));
      return;
    }
    if (rest.length === 3 && rest[1] === 'entries' && rest[2] !== '') {
      if (!allow('PUT', 'DELETE')) return;
      const key = rest[2] as string;
      maps.get(name);
      if (method === 'PUT') await changed(res, maps.update(name, { op: 'set', key, value: (await parseBody(req, mapEntryBody)).value }));
      else await changed(res, maps.update(name, { op: 'delete', key }));
      return;
    }
    throw new LbError('LB_ERR_ADMIN_NOT_FOUND', `no such endpoint: ${method} /v1/maps/${rest.map(encodeURIComponent).join('/')}`);
  };

  const server = http.createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof LbError && err.code === 'LB_ERR_ADMIN_BAD_REQUEST') sendError(res, 400, err.code, err.message, { Connection: 'close' });
      else if (err instanceof LbError && err.code === 'LB_ERR_ADMIN_NOT_FOUND') sendError(res, 404, err.code, err.message, { Connection: 'close' });
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
