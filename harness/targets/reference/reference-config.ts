import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Scalar } from 'yaml';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LbdrillError } from '../../errors.ts';
import type { ClientLimit, ClientLimits, PoolHealth, ConfigAnalysis, ConfigDialect, ConfigStatement, ListenerRef, Mapping, UpstreamRef } from '../config-plan.ts';
import { statusRange } from '../status-range.ts';

function parse(source: string, sourcePath: string): { doc: Document; lines: LineCounter } {
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, keepSourceTokens: false });
  const err = doc.errors[0];
  if (err) {
    const line = err.linePos?.[0]?.line;
    throw new LbdrillError('LBDRILL_ERR_CONFIG_PARSE', `${sourcePath}${line ? `:${line}` : ''}: ${err.message.split('\n')[0]}`);
  }
  return { doc, lines };
}

function lineOf(node: Node | null | undefined, lines: LineCounter): number {
  const offset = node?.range?.[0];
  return offset === undefined ? 0 : lines.linePos(offset).line;
}

function scalarAt(doc: Document, path: (string | number)[]): Scalar | undefined {
  const node = doc.getIn(path, true);
  return isScalar(node) ? node : undefined;
}

/** The line a key of the document is written on (`path` ends at the key), as a ConfigStatement: that line's text, trimmed. */
function statementAt(doc: Document, path: (string | number)[], source: string, lines: LineCounter): ConfigStatement | undefined {
  const parent = doc.getIn(path.slice(0, -1), true);
  if (!isMap(parent)) return undefined;
  const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === path[path.length - 1]);
  const line = lineOf(pair?.key as Node | undefined, lines);
  if (line === 0) return undefined;
  return { text: (source.split('\n')[line - 1] ?? '').trim(), line };
}

function portOf(bind: string): number {
  return Number(bind.slice(bind.lastIndexOf(':') + 1));
}

/** Every upstream server and listener in a reference-lb YAML config, with the path of its node. */
function walk(doc: Document): {
  servers: Array<{ pool: string; index: number; address: string; name?: string; backup: boolean; weight?: number; cookieValue?: string }>;
  listeners: Array<{ index: number; bind: string; tls: boolean; names: string[] }>;
} {
  const servers: Array<{ pool: string; index: number; address: string; name?: string; backup: boolean; weight?: number; cookieValue?: string }> = [];
  const upstreams = doc.get('upstreams', true);
  if (isMap(upstreams)) {
    for (const pair of upstreams.items) {
      const pool = String(isScalar(pair.key) ? pair.key.value : pair.key);
      const list = isMap(pair.value) ? pair.value.get('servers', true) : undefined;
      if (!isSeq(list)) continue;
      const sticky = isMap(pair.value) && pair.value.has('sticky');
      list.items.forEach((item, index) => {
        if (!isMap(item)) return;
        const address = item.get('address');
        if (typeof address !== 'string') return;
        const name = item.get('name');
        const weight = item.get('weight');
        const cookieValue = item.get('cookie_value');
        servers.push({
          pool,
          index,
          address,
          ...(typeof name === 'string' ? { name } : {}),
          backup: item.get('backup') === true,
          ...(typeof weight === 'number' ? { weight } : {}),
          // With a sticky cookie every server has a value: cookie_value, else its name, else its address (config-schema.ts).
          ...(sticky ? { cookieValue: typeof cookieValue === 'string' ? cookieValue : typeof name === 'string' ? name : address } : {}),
        });
      });
    }
  }
  const listeners: Array<{ index: number; bind: string; tls: boolean; names: string[] }> = [];
  const seq = doc.get('listeners', true);
  if (isSeq(seq)) {
    seq.items.forEach((item, index) => {
      if (!isMap(item)) return;
      const bind = item.get('bind');
      if (typeof bind !== 'string') return;
      const names = item.get('server_names', true);
      listeners.push({
        index,
        bind,
        tls: item.has('tls'),
        names: isSeq(names) ? names.items.map((n) => String(isScalar(n) ? n.value : n)) : [],
      });
    });
  }
  return { servers, listeners };
}

/** The reference LB's own YAML/JSON config: upstream addresses, binds and TLS files are mapped; nothing else changes. */
export const referenceDialect: ConfigDialect = {
  analyze(source, sourcePath): ConfigAnalysis {
    const { doc, lines } = parse(source, sourcePath);
    const { servers, listeners } = walk(doc);
    const upstreams: UpstreamRef[] = servers.map((s) => ({
      pool: s.pool,
      name: s.name ?? s.address,
      address: s.address,
      backup: s.backup,
      line: lineOf(doc.getIn(['upstreams', s.pool, 'servers', s.index], true) as Node, lines),
      ...(s.weight !== undefined ? { weight: s.weight } : {}),
      ...(s.cookieValue !== undefined ? { cookieValue: s.cookieValue } : {}),
    }));
    const limits = clientLimits(doc, source, lines);
    const refs: ListenerRef[] = listeners.map((l) => {
      // Without min_version the reference LB's own default (TLSv1.2) decides, not the config.
      const tlsProtocols = l.tls ? statementAt(doc, ['listeners', l.index, 'tls', 'min_version'], source, lines) : undefined;
      return {
        spec: l.bind,
        port: portOf(l.bind),
        tls: l.tls,
        serverNames: l.names,
        line: lineOf(doc.getIn(['listeners', l.index], true) as Node, lines),
        ...(tlsProtocols !== undefined ? { tlsProtocols } : {}),
        limits,
      };
    });
    return { upstreams, listeners: refs, fragment: false, pools: poolsOf(doc, source, lines) };
  },

  render(source, sourcePath, _analysis, plan) {
    const { doc, lines } = parse(source, sourcePath);
    const { servers, listeners } = walk(doc);
    const mapped: Mapping[] = [];
    const set = (path: (string | number)[], value: string, kind: Mapping['kind']): void => {
      const node = scalarAt(doc, path);
      mapped.push({ kind, from: String(node?.value ?? ''), to: value, line: lineOf(node, lines) });
      doc.setIn(path, value);
    };
    for (const s of servers) {
      const to = plan.upstreams.get(s.address);
      if (to) set(['upstreams', s.pool, 'servers', s.index, 'address'], to, 'upstream');
    }
    for (const l of listeners) {
      const port = plan.ports.get(portOf(l.bind));
      if (port !== undefined) set(['listeners', l.index, 'bind'], `127.0.0.1:${port}`, 'listen');
      if (l.tls) {
        set(['listeners', l.index, 'tls', 'cert'], plan.tls.certFile, 'certificate');
        set(['listeners', l.index, 'tls', 'key'], plan.tls.keyFile, 'certificate');
      }
    }
    if (scalarAt(doc, ['buffering', 'temp_dir'])) set(['buffering', 'temp_dir'], `${plan.runDir}/tmp`, 'path');
    // Files the config names relative to itself (map files, htpasswd) stay where they are: point at them absolutely.
    const mapsNode = doc.get('maps', true);
    if (isMap(mapsNode)) {
      for (const pair of mapsNode.items) {
        const name = String((pair.key as Scalar).value);
        const file = scalarAt(doc, ['maps', name, 'file'])?.value;
        if (typeof file === 'string' && !isAbsolute(file)) set(['maps', name, 'file'], resolve(dirname(sourcePath), file), 'path');
      }
    }
    listeners.forEach((l) => {
      const routes = doc.getIn(['listeners', l.index, 'routes'], true);
      if (!isSeq(routes)) return;
      routes.items.forEach((_, r) => {
        const file = scalarAt(doc, ['listeners', l.index, 'routes', r, 'auth', 'users_file'])?.value;
        if (typeof file === 'string' && !isAbsolute(file)) set(['listeners', l.index, 'routes', r, 'auth', 'users_file'], resolve(dirname(sourcePath), file), 'path');
      });
    });
    const scale = plan.timeScale ?? 1;
    if (scale !== 1) {
      const upstreamsNode = doc.get('upstreams', true);
      if (isMap(upstreamsNode)) {
        for (const pair of upstreamsNode.items) {
          const pool = String((pair.key as Scalar).value);
          for (const path of [['health_check', 'interval_ms'], ['health_check', 'timeout_ms'], ['passive', 'fail_timeout_ms'], ['slowstart_ms']]) {
            const node = scalarAt(doc, ['upstreams', pool, ...path]);
            if (typeof node?.value !== 'number') continue;
            const to = Math.max(path[0] === 'health_check' ? 10 : 1, Math.round(node.value * scale));
            mapped.push({ kind: 'timing', from: `${path.join('.')}: ${node.value}`, to: `${path.join('.')}: ${to}`, line: lineOf(node, lines) });
            doc.setIn(['upstreams', pool, ...path], to);
          }
        }
      }
    }
    if (plan.runtimePort !== undefined) {
      // The admin API is how lbdrill drains servers and times DOWN/UP: loopback, on a port of this run.
      const token = scalarAt(doc, ['admin', 'token'])?.value;
      const bind = `127.0.0.1:${plan.runtimePort}`;
      if (doc.get('admin')) set(['admin', 'bind'], bind, 'runtime-api');
      else mapped.push({ kind: 'runtime-api', from: '(no admin API)', to: `admin API on ${bind}` });
      doc.setIn(['admin'], doc.createNode({ bind, token: typeof token === 'string' ? token : `lbdrill-${plan.runtimePort}-${process.pid}` }));
    }
    return { files: { 'reference-lb.yaml': doc.toString({ lineWidth: 0 }) }, main: 'reference-lb.yaml', mapped };
  },
};

/** The reference LB's defaults (config-schema.ts timeouts and limits). */
const DEFAULT_CLIENT_HEADER_MS = 60_000;
const DEFAULT_SEND_MS = 60_000;
const DEFAULT_HEADER_BYTES = 16_384;

/** timeouts.client_header_ms and send_ms (0 = none) and limits.header_bytes (the whole head, 431 over) as written, else their defaults. */
function clientLimits(doc: Document, source: string, lines: LineCounter): ClientLimits {
  const written = (section: string, key: string, fallback: number, zeroIsNone: boolean): ClientLimit => {
    const value = scalarAt(doc, [section, key])?.value;
    const at = statementAt(doc, [section, key], source, lines);
    if (typeof value !== 'number' || at === undefined) return { value: fallback, source: `reference LB default: ${section}.${key} ${fallback}` };
    return { value: zeroIsNone && value === 0 ? null : value, at, source: `${section}.${key}: ${value}` };
  };
  return {
    headerTimeoutMs: written('timeouts', 'client_header_ms', DEFAULT_CLIENT_HEADER_MS, false),
    bodyTimeoutMs: written('timeouts', 'send_ms', DEFAULT_SEND_MS, true),
    headerBytes: { ...written('limits', 'header_bytes', DEFAULT_HEADER_BYTES, false), scope: 'head' },
  };
}

/** An upstream as written: the fields poolsOf reads. */
interface WrittenUpstream {
  health_check?: { path: string; interval_ms?: number; fall?: number; rise?: number; expect_status?: Array<number | string> };
  passive?: { max_fails?: number; fail_timeout_ms?: number };
  slowstart_ms?: number;
  on_marked_down?: string;
  redispatch?: boolean;
  retries?: number;
  sticky?: { cookie: string; mode?: 'insert'; indirect?: boolean };
  tunnel_timeout_ms?: number;
}

/** The statuses `expect_status` accepts (100-599 codes and "2xx" classes) as one range, or null when they are not one run. */
function expectRange(expect: Array<number | string>): { min: number; max: number } | null {
  return statusRange((code) => expect.some((e) => e === code || e === `${Math.floor(code / 100)}xx`));
}

/** Health and failover settings per upstream, as written. */
function poolsOf(doc: Document, source: string, lines: LineCounter): PoolHealth[] {
  const json = doc.toJS() as { upstreams?: Record<string, WrittenUpstream> };
  return Object.entries(json.upstreams ?? {}).map(([pool, u]) => {
    // The key is there when its value is: line 0 (unknown, as lineOf says) cannot happen in practice.
    const at = (key: string): ConfigStatement => statementAt(doc, ['upstreams', pool, key], source, lines) ?? { text: key, line: 0 };
    const expect = u.health_check?.expect_status === undefined ? null : expectRange(u.health_check.expect_status);
    return {
      pool,
      ...(u.health_check
        ? {
            active: {
              // The reference LB checks with GET (config-schema.ts, health_check.path).
              method: 'GET',
              path: u.health_check.path,
              ...(expect !== null ? { expectStatus: expect } : {}),
              intervalMs: u.health_check.interval_ms ?? 2000,
              fall: u.health_check.fall ?? 3,
              rise: u.health_check.rise ?? 2,
              at: at('health_check'),
            },
          }
        : {}),
      ...(u.passive ? { passive: { maxFails: u.passive.max_fails ?? 1, failTimeoutMs: u.passive.fail_timeout_ms ?? 10_000 } } : {}),
      ...(u.slowstart_ms ? { slowstartMs: u.slowstart_ms } : {}),
      shutdownSessions: u.on_marked_down === 'shutdown_sessions',
      redispatch: u.redispatch !== false && u.retries !== 0,
      ...(u.sticky ? { cookie: { name: u.sticky.cookie, mode: u.sticky.mode ?? 'insert', indirect: u.sticky.indirect ?? false, at: at('sticky') } } : {}),
      ...(u.tunnel_timeout_ms !== undefined ? { tunnelTimeoutMs: u.tunnel_timeout_ms } : {}),
    };
  });
}
