import { request } from 'undici';
import { LbdrillError } from '../../errors.ts';
import type { LbProcess } from '../../process/lb-process.ts';
import { nowMs } from '../../probe/probe-stream.ts';
import type { LbServerState } from '../../runtime/lb-state-event.ts';
import { RuntimeApi, type ServerCommand } from '../../runtime/runtime-api.ts';

const ADMIN_TIMEOUT_MS = 5_000;

/** The reference LB's `server-state` stdout event (reference-lb/README.md, "Process protocol"). */
interface ServerStateLine {
  event: 'server-state';
  upstream: string;
  server: string;
  to: LbServerState;
  reason?: string;
}

/** The reference LB's admin API: transitions from its stdout event lines, commands over HTTP with a bearer token. */
export class ReferenceRuntime extends RuntimeApi {
  readonly title = 'reference LB admin API';
  readonly eventSource = 'reference LB "server-state" event lines on stdout, timed as lbdrill reads them';
  readonly #base: string;
  readonly #token: string;
  readonly #process: LbProcess;
  readonly #onLine: (line: string) => void;

  constructor(process: LbProcess, admin: { host: string; port: number; token: string }) {
    super();
    this.#process = process;
    this.#base = `http://${admin.host}:${admin.port}`;
    this.#token = admin.token;
    this.#onLine = (line: string) => {
      if (!line.startsWith('{') || !line.includes('"server-state"')) return;
      try {
        const e = JSON.parse(line) as ServerStateLine;
        if (e.event !== 'server-state') return;
        this.record({ atMs: nowMs(), pool: e.upstream, server: e.server, state: e.to, reason: e.reason ?? '' });
      } catch {
        // not an event line
      }
    };
    process.on('line', this.#onLine);
  }

  async #call(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<unknown> {
    let res;
    try {
      res = await request(`${this.#base}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.#token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
        headersTimeout: ADMIN_TIMEOUT_MS,
        bodyTimeout: ADMIN_TIMEOUT_MS,
      });
    } catch (err) {
      throw new LbdrillError('LBDRILL_ERR_RUNTIME_API', `reference LB admin API ${this.#base}: ${(err as Error).message}`, { cause: err });
    }
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new LbdrillError('LBDRILL_ERR_RUNTIME_API', `reference LB admin API ${method} ${path}: ${res.statusCode} ${text.slice(0, 200)}`);
    return text ? JSON.parse(text) : undefined;
  }

  async command(pool: string, server: string, command: ServerCommand): Promise<void> {
    await this.#call('POST', `/v1/upstreams/${encodeURIComponent(pool)}/servers/${encodeURIComponent(server)}/state`, { state: command });
  }

  async setMapEntry(map: string, key: string, value: string): Promise<void> {
    await this.#call('PUT', `/v1/maps/${encodeURIComponent(map)}/entries/${encodeURIComponent(key)}`, { value });
  }

  async states(): Promise<Array<{ pool: string; server: string; state: LbServerState }>> {
    const body = (await this.#call('GET', '/v1/upstreams')) as { upstreams: Array<{ name: string; servers: Array<{ name: string; state: LbServerState }> }> };
    return body.upstreams.flatMap((u) => u.servers.map((s) => ({ pool: u.name, server: s.name, state: s.state })));
  }

  async close(): Promise<void> {
    this.#process.off('line', this.#onLine);
  }
}
