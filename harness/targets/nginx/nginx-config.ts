/**
 * The nginx dialect: reads a user's nginx file (a full nginx.conf or a fragment of
 * `server`/`upstream` blocks) and maps what cannot exist here onto the run's plan,
 * editing spans in place so every line keeps its number.
 */
import { dirname } from 'node:path';
import { LbdrillError } from '../../errors.ts';
import type { ClientLimit, ClientLimits, CompanionFile, ConfigAnalysis, ConfigDialect, ConfigStatement, ListenerRef, Mapping, PoolHealth, RenderPlan, RenderedConfig, UpstreamRef } from '../config-plan.ts';
import {
  LOOPBACK,
  LineIndex,
  RunDirNames,
  SCHEME_PORTS,
  activeTimeScale,
  commentOutEdits,
  copyCompanion,
  hostPort,
  notAFile,
  parseError,
  planned,
  readCompanions,
  requote,
  scaleMs,
  urlAuthority,
  type CompanionRef,
  type TextEdit,
  type Word,
} from '../config-text.ts';
import {
  ConfigTree,
  TreeCopies,
  analyzedIncludes,
  diskIncludes,
  treeOrder,
  uniqueMappings,
  type IncludeReader,
  type IncludeRef,
  type IncludeRules,
  type TreeFile,
} from '../config-tree.ts';

/** What nginx analysis adds to the contract: which main-level directives a full config already sets. */
export interface NginxConfigAnalysis extends ConfigAnalysis {
  /** main-level directives present in a full nginx.conf (a fragment sets none; the generated main does). */
  mainSets: { pid: boolean; errorLog: boolean };
}

const SITE_FILE = 'site.conf';
const MAIN_FILE = 'nginx.conf';
const TEMP_KINDS = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'] as const;

const CERT_DIRECTIVES = new Set([
  'ssl_certificate',
  'proxy_ssl_certificate',
  'grpc_ssl_certificate',
  'ssl_trusted_certificate',
  'ssl_client_certificate',
  'proxy_ssl_trusted_certificate',
  'grpc_ssl_trusted_certificate',
]);
const KEY_DIRECTIVES = new Set(['ssl_certificate_key', 'proxy_ssl_certificate_key', 'grpc_ssl_certificate_key']);
/** Directives naming files lbdrill cannot provide; commented out in place. */
const DROP_DIRECTIVES = new Set([
  'daemon',
  'ssl_dhparam',
  'ssl_crl',
  'proxy_ssl_crl',
  'grpc_ssl_crl',
  'ssl_stapling_file',
  'ssl_session_ticket_key',
  'ssl_password_file',
  'proxy_ssl_password_file',
  'grpc_ssl_password_file',
]);
const TEMP_DIRECTIVES = new Set(['client_body_temp_path', 'proxy_temp_path', 'fastcgi_temp_path', 'uwsgi_temp_path', 'scgi_temp_path']);
const CACHE_DIRECTIVES = new Set(['proxy_cache_path', 'fastcgi_cache_path', 'uwsgi_cache_path', 'scgi_cache_path']);
/** Log targets that exist everywhere or are not files. */
const LOG_KEEP = /^(off|stderr|syslog:|memory:|\/dev\/(stderr|stdout|null)$)/;

interface Directive {
  name: string;
  args: Word[];
  /** offset of the directive's first character. */
  start: number;
  /** offset just past its ';' or '{'. */
  end: number;
  line: number;
  block: Directive[] | null;
  /** the included file the directive is in; undefined in the source file. */
  file?: string;
}

interface Token {
  kind: 'word' | ';' | '{' | '}';
  word: Word;
}

const SPACE = new Set([' ', '\t', '\r', '\n']);

function tokenize(source: string, path: string, index: LineIndex): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = source.length;
  while (i < n) {
    const c = source[i] as string;
    if (SPACE.has(c)) {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < n && source[i] !== '\n') i++;
      continue;
    }
    if (c === ';' || c === '{' || c === '}') {
      tokens.push({ kind: c, word: { value: c, raw: c, start: i, end: i + 1, quote: '' } });
      i++;
      continue;
    }
    const start = i;
    let value = '';
    if (c === '"' || c === "'") {
      i++;
      while (i < n && source[i] !== c) {
        if (source[i] === '\\' && i + 1 < n) {
          const e = source[i + 1] as string;
          value += e === 't' ? '\t' : e === 'r' ? '\r' : e === 'n' ? '\n' : e === '"' || e === "'" || e === '\\' ? e : `\\${e}`;
          i += 2;
          continue;
        }
        value += source[i];
        i++;
      }
      if (i >= n) throw parseError(path, index.lineOf(start), 'unterminated quoted string');
      i++;
      const next = source[i];
      if (next !== undefined && !SPACE.has(next) && next !== ';' && next !== '{' && next !== ')') {
        throw parseError(path, index.lineOf(i), `unexpected "${next}"`);
      }
      tokens.push({ kind: 'word', word: { value, raw: source.slice(start, i), start, end: i, quote: c } });
      continue;
    }
    while (i < n) {
      const ch = source[i] as string;
      if (ch === '\\' && i + 1 < n) {
        value += ch + source[i + 1];
        i += 2;
        continue;
      }
      if (ch === '{' && source[i - 1] === '$') {
        value += ch;
        i++;
        continue;
      }
      if (SPACE.has(ch) || ch === ';' || ch === '{') break;
      value += ch;
      i++;
    }
    tokens.push({ kind: 'word', word: { value, raw: source.slice(start, i), start, end: i, quote: '' } });
  }
  return tokens;
}

function parse(source: string, path: string, index: LineIndex, file?: string): Directive[] {
  const root: Directive[] = [];
  const stack: Directive[][] = [root];
  let pending: Word[] = [];
  for (const token of tokenize(source, path, index)) {
    const current = stack[stack.length - 1] as Directive[];
    if (token.kind === 'word') {
      pending.push(token.word);
      continue;
    }
    const line = index.lineOf(token.word.start);
    if (token.kind === '}') {
      if (pending.length > 0 || stack.length === 1) throw parseError(path, line, 'unexpected "}"');
      stack.pop();
      continue;
    }
    const [head, ...args] = pending;
    if (head === undefined) throw parseError(path, line, `unexpected "${token.kind}"`);
    const directive: Directive = {
      name: head.value,
      args,
      start: head.start,
      end: token.word.end,
      line: index.lineOf(head.start),
      block: token.kind === '{' ? [] : null,
      ...(file === undefined ? {} : { file }),
    };
    current.push(directive);
    if (directive.block !== null) stack.push(directive.block);
    pending = [];
  }
  if (pending.length > 0) {
    throw parseError(path, index.lineOf(source.length), 'unexpected end of file, expecting ";" or "}"');
  }
  if (stack.length > 1) throw parseError(path, index.lineOf(source.length), 'unexpected end of file, expecting "}"');
  return root;
}

/** How deep includes may nest before lbdrill calls it a loop (nginx has no limit and recurses until it fails). */
const MAX_INCLUDE_DEPTH = 32;

/** An `include` directive with the files it named. */
interface IncludeSite {
  directive: Directive;
  word: Word;
  ref: IncludeRef;
  members: CompanionFile[];
}

/** Moves every offset of a parsed file by `base`: its place in the tree's joined text. */
function shift(list: Directive[], base: number): void {
  for (const d of list) {
    d.start += base;
    d.end += base;
    for (const w of d.args) {
      w.start += base;
      w.end += base;
    }
    if (d.block !== null) shift(d.block, base);
  }
}

/**
 * Parses the source and every file it includes, in nginx's reading order: each included file's
 * directives are spliced in after the `include` that names it, in the block it sits in, so
 * everything that walks directives sees the config as nginx does.
 */
function readTree(source: string, sourcePath: string, reader: IncludeReader): { tree: ConfigTree; root: Directive[]; includes: IncludeSite[] } {
  const tree = new ConfigTree();
  const parsed = new Map<string, Directive[]>();
  const loading = new Set<string>();
  const includes: IncludeSite[] = [];
  const load = (path: string, content: string, included: boolean): Directive[] => {
    const { file, added } = tree.add(path, content);
    if (!added) return parsed.get(path) ?? [];
    const list = parse(content, path, file.index, included ? path : undefined);
    shift(list, file.base);
    parsed.set(path, list);
    loading.add(path);
    splice(list, loading.size);
    loading.delete(path);
    return list;
  };
  const splice = (list: Directive[], depth: number): void => {
    for (let i = 0; i < list.length; i++) {
      const d = list[i] as Directive;
      if (d.block !== null) splice(d.block, depth);
      const word = d.args[0];
      if (d.name !== 'include' || d.block !== null || word === undefined || word.value.includes('$')) continue;
      const ref: IncludeRef = { path: word.value, file: d.file ?? sourcePath, line: d.line, optional: false };
      const members = reader(ref);
      if (members.some((m) => loading.has(m.foundAt)) || depth >= MAX_INCLUDE_DEPTH) {
        throw parseError(ref.file, d.line, `include ${ref.path} includes itself (directly or through other files)`);
      }
      includes.push({ directive: d, word, ref, members });
      const inlined = members.flatMap((m) => load(m.foundAt, m.content, true));
      list.splice(i + 1, 0, ...inlined);
      i += inlined.length;
    }
  };
  const root = load(sourcePath, source, false);
  return { tree, root, includes };
}

/** The `file` a ref or mapping carries for a directive in an included file. */
function fileOf(d: Directive): { file?: string } {
  return d.file === undefined ? {} : { file: d.file };
}

type Context = 'main' | 'http' | 'stream' | 'mail' | 'server' | 'upstream' | 'other';
/** The top-level module a directive belongs to; proxy_pass takes a URL in http, host:port in stream. */
type Family = 'main' | 'http' | 'stream' | 'mail';

/** Calls visit for every directive with the context it sits in. */
function walk(list: Directive[], context: Context, family: Family, visit: (d: Directive, context: Context, family: Family) => void): void {
  for (const d of list) {
    visit(d, context, family);
    if (d.block === null) continue;
    if (context === 'main' && (d.name === 'http' || d.name === 'stream' || d.name === 'mail')) {
      walk(d.block, d.name, d.name, visit);
    } else if ((context === 'http' || context === 'stream' || context === 'mail') && (d.name === 'server' || d.name === 'upstream')) {
      walk(d.block, d.name, family, visit);
    } else {
      walk(d.block, 'other', family, visit);
    }
  }
}

/** A TCP listen address: IPv6 when written in brackets. */
interface ListenSpec {
  kind: 'inet';
  host: string;
  v6: boolean;
  port: number;
}

function readListen(word: Word, path: string, line: number): ListenSpec | { kind: 'unix'; path: string } {
  const spec = word.value;
  if (spec.startsWith('unix:')) return { kind: 'unix', path: spec.slice(5) };
  const v6 = /^(\[[^\]]*\])(?::(\d+))?$/.exec(spec);
  if (v6 !== null) return { kind: 'inet', host: v6[1] as string, v6: true, port: v6[2] === undefined ? 80 : Number(v6[2]) };
  if (/^\d+$/.test(spec)) return { kind: 'inet', host: '', v6: false, port: Number(spec) };
  const hp = /^([^:]+)(?::(\d+))?$/.exec(spec);
  if (hp === null) throw parseError(path, line, `cannot read listen address "${spec}"`);
  return { kind: 'inet', host: hp[1] as string, v6: false, port: hp[2] === undefined ? 80 : Number(hp[2]) };
}

/** An nginx upstream address normalised to host:port, or null for a unix socket. */
function upstreamAddress(spec: string): string | null {
  if (spec.startsWith('unix:')) return null;
  const v6 = /^(\[[^\]]*\])(?::(\d+))?$/.exec(spec);
  if (v6 !== null) return `${v6[1]}:${v6[2] ?? 80}`;
  const hp = /^([^:]+)(?::(\d+))?$/.exec(spec);
  return hp === null ? null : `${hp[1]}:${hp[2] ?? 80}`;
}

/** A literal proxy_pass target: the URL's authority, or null when it names an upstream or uses variables. */
function proxyPassTarget(word: Word, module: 'http' | 'stream', upstreamNames: Set<string>): { address: string; start: number; end: number; tls: boolean } | null {
  const offset = word.start + (word.quote === '' ? 0 : 1);
  if (module === 'stream') {
    if (word.value.includes('$') || upstreamNames.has(word.value.toLowerCase())) return null;
    const address = upstreamAddress(word.value);
    if (address === null || !/:\d+$/.test(word.value)) return null;
    return { address, start: offset, end: offset + word.value.length, tls: false };
  }
  const url = urlAuthority(word.value);
  // A variable in the host is resolved per request; one in the path leaves the address literal.
  if (url === null || url.host.includes('$') || url.host.startsWith('unix:') || url.host === 'unix') return null;
  if (upstreamNames.has(url.host.toLowerCase())) return null;
  const port = url.port ?? SCHEME_PORTS[url.scheme] ?? 80;
  return { address: hostPort(url.host, port), start: offset + url.start, end: offset + url.end, tls: url.scheme === 'https' };
}

/** Everything the analysis and the renderer both need, found in one pass. */
interface Scan {
  /** the source and every file it includes; `tree.index` holds the lines of the joined text all offsets point into. */
  tree: ConfigTree;
  includes: IncludeSite[];
  root: Directive[];
  /** the context the file's top level is read in: a fragment sits inside `http`. */
  top: Context;
  fragment: boolean;
  mainSets: { pid: boolean; errorLog: boolean };
  upstreamServers: Array<{ ref: UpstreamRef; word: Word }>;
  proxyPasses: Array<{ ref: UpstreamRef; start: number; end: number }>;
  listens: Array<{ directive: Directive; spec: ReturnType<typeof readListen>; dropped: boolean; ref: ListenerRef | null }>;
  /** server blocks with no listen at all: nginx listens on *:80 for them. */
  implicit: Array<{ server: Directive; ref: ListenerRef }>;
  /** every other directive, for the path, certificate and drop rules. */
  others: Directive[];
}

function serverNames(block: Directive[]): string[] {
  const names: string[] = [];
  for (const d of block) {
    if (d.name !== 'server_name') continue;
    for (const a of d.args) {
      const v = a.value;
      if (v === '_' || v === '' || v.startsWith('~') || v.startsWith('.') || v.includes('*') || v.includes('$')) continue;
      if (!names.includes(v)) names.push(v);
    }
  }
  return names;
}

function scan(source: string, path: string, reader: IncludeReader): Scan {
  const { tree, root, includes } = readTree(source, path, reader);
  const fragment = !root.some((d) => d.name === 'http' || d.name === 'events');
  const mainSets = {
    pid: !fragment && root.some((d) => d.name === 'pid'),
    errorLog: !fragment && root.some((d) => d.name === 'error_log'),
  };
  const top: Context = fragment ? 'http' : 'main';
  const topFamily: Family = fragment ? 'http' : 'main';
  const upstreamNames = new Set<string>();
  walk(root, top, topFamily, (d, context) => {
    if (d.name === 'upstream' && d.block !== null && (context === 'http' || context === 'stream') && d.args[0] !== undefined) {
      upstreamNames.add(d.args[0].value.toLowerCase());
    }
  });
  // An upstream that some `proxy_pass https://NAME` uses is spoken to over TLS (a server speaks one protocol on its port).
  const tlsUpstreams = new Set<string>();
  walk(root, top, topFamily, (d) => {
    const url = d.name === 'proxy_pass' && d.args[0] !== undefined ? urlAuthority(d.args[0].value) : null;
    if (url !== null && url.scheme === 'https' && upstreamNames.has(url.host.toLowerCase())) tlsUpstreams.add(url.host.toLowerCase());
  });
  // ssl_protocols at http (stream) level holds for every server block that sets none; a fragment's top level is http.
  const moduleProtocols = new Map<Family, Directive>();
  walk(root, top, topFamily, (d, context, family) => {
    if (d.name === 'ssl_protocols' && context === family && !moduleProtocols.has(family)) moduleProtocols.set(family, d);
  });
  // Client limits at http level hold for every server block that sets none.
  const httpLimits = new Map<string, Directive>();
  walk(root, top, topFamily, (d, context) => {
    if (context === 'http' && LIMIT_DIRECTIVES.has(d.name)) httpLimits.set(d.name, d);
  });
  const result: Scan = { tree, includes, root, top, fragment, mainSets, upstreamServers: [], proxyPasses: [], listens: [], implicit: [], others: [] };
  walk(root, top, topFamily, (d, context, family) => {
    if (context === 'upstream') return;
    if (d.name === 'upstream' && d.block !== null && (context === 'http' || context === 'stream')) {
      const pool = d.args[0]?.value ?? '';
      for (const server of d.block) {
        if (server.name !== 'server' || server.block !== null) continue;
        const word = server.args[0];
        if (word === undefined) throw parseError(server.file ?? path, server.line, 'invalid number of arguments in "server" directive');
        const address = upstreamAddress(word.value);
        if (address === null) continue;
        const weight = serverParam(server, 'weight')?.value;
        result.upstreamServers.push({
          ref: {
            pool,
            name: address,
            address,
            line: server.line,
            backup: server.args.some((a) => a.value === 'backup'),
            ...(weight !== undefined && /^\d+$/.test(weight) ? { weight: Number(weight) } : {}),
            ...(family === 'http' && tlsUpstreams.has(pool.toLowerCase()) ? { tls: true as const } : {}),
            ...fileOf(server),
          },
          word,
        });
      }
      return;
    }
    if (d.name === 'proxy_pass' && d.args[0] !== undefined) {
      const target = proxyPassTarget(d.args[0], family === 'stream' ? 'stream' : 'http', upstreamNames);
      if (target !== null) {
        result.proxyPasses.push({
          ref: { pool: target.address, name: target.address, address: target.address, line: d.line, backup: false, ...(target.tls ? { tls: true as const } : {}), ...fileOf(d) },
          start: target.start,
          end: target.end,
        });
      }
      return;
    }
    if (d.name === 'server' && d.block !== null && (context === 'http' || context === 'stream' || context === 'mail')) {
      const block = d.block;
      const tls = block.some((x) => x.name === 'ssl' && x.args[0]?.value === 'on');
      const protocols = block.find((x) => x.name === 'ssl_protocols') ?? moduleProtocols.get(family);
      const names = serverNames(block);
      const limits = family === 'http' ? clientLimits(tree.text, block, httpLimits) : undefined;
      const listens = block.filter((x) => x.name === 'listen');
      const specs = listens.map((l) => {
        const word = l.args[0];
        if (word === undefined) throw parseError(l.file ?? path, l.line, 'invalid number of arguments in "listen" directive');
        return readListen(word, l.file ?? path, l.line);
      });
      const v4Ports = new Set(specs.flatMap((s) => (s.kind === 'inet' && !s.v6 ? [s.port] : [])));
      listens.forEach((l, i) => {
        const spec = specs[i] as ReturnType<typeof readListen>;
        if (spec.kind === 'unix') {
          result.listens.push({ directive: l, spec, dropped: false, ref: null });
          return;
        }
        const dropped = spec.v6 && v4Ports.has(spec.port);
        const ref: ListenerRef | null = dropped
          ? null
          : {
              spec: (l.args[0] as Word).value,
              port: spec.port,
              tls: tls || l.args.slice(1).some((a) => a.value === 'ssl'),
              serverNames: names,
              line: l.line,
              ...fileOf(l),
              ...(limits ? { limits } : {}),
            };
        if (ref !== null && ref.tls && protocols !== undefined) ref.tlsProtocols = statement(tree.text, protocols);
        result.listens.push({ directive: l, spec, dropped, ref });
      });
      if (listens.length === 0 && context === 'http') {
        const ref: ListenerRef = { spec: '*:80', port: 80, tls, serverNames: names, line: d.line, ...fileOf(d), ...(limits ? { limits } : {}) };
        if (tls && protocols !== undefined) ref.tlsProtocols = statement(tree.text, protocols);
        result.implicit.push({ server: d, ref });
      }
      return;
    }
    result.others.push(d);
  });
  return result;
}

// ---- client limits ----

const LIMIT_DIRECTIVES = new Set(['client_header_timeout', 'client_body_timeout', 'large_client_header_buffers']);
/** nginx's defaults (ngx_http_core_module): 60 s for the head and between body reads, 4 buffers of 8k for long header lines. */
const DEFAULT_CLIENT_TIMEOUT_MS = 60_000;
const DEFAULT_LARGE_BUFFER_BYTES = 8192;

/** An nginx size ("8k", "1m", "512") in bytes, or null when it is not one. */
export function nginxSizeBytes(text: string): number | null {
  const m = /^(\d+)([kKmMgG]?)$/.exec(text);
  if (m === null) return null;
  const unit = (m[2] ?? '').toLowerCase();
  return Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1);
}

/**
 * A server block's client limits: its own directive, else the http level's, else nginx's default.
 * A request line or header line longer than one large buffer gets 414 or 400 (ngx_http_request.c).
 */
function clientLimits(text: string, block: Directive[], httpLevel: ReadonlyMap<string, Directive>): ClientLimits {
  const find = (name: string): Directive | undefined => block.find((d) => d.name === name) ?? httpLevel.get(name);
  const timeout = (name: string): ClientLimit => {
    const d = find(name);
    const ms = d?.args[0] === undefined ? null : nginxTimeMs(d.args[0].value);
    if (d === undefined || ms === null) return { value: DEFAULT_CLIENT_TIMEOUT_MS, source: `nginx default: ${name} 60s` };
    return { value: ms, at: statement(text, d), source: `${name} ${d.args[0]?.value}` };
  };
  const buffers = find('large_client_header_buffers');
  const size = buffers?.args[1] === undefined ? null : nginxSizeBytes(buffers.args[1].value);
  const headerBytes: ClientLimits['headerBytes'] =
    buffers === undefined || size === null
      ? { value: DEFAULT_LARGE_BUFFER_BYTES, scope: 'field', source: 'nginx default: large_client_header_buffers 4 8k' }
      : { value: size, scope: 'field', at: statement(text, buffers), source: `large_client_header_buffers ${buffers.args.map((a) => a.value).join(' ')}` };
  return { headerTimeoutMs: timeout('client_header_timeout'), bodyTimeoutMs: timeout('client_body_timeout'), headerBytes };
}

// ---- health and failover settings ----

/** nginx time units (ngx_parse_time); a number without a unit is seconds. */
const TIME_UNITS_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, M: 2_592_000_000, y: 31_536_000_000 };

/** An nginx time ("10s", "1m30s", "15") in milliseconds, or null when it is not one. */
export function nginxTimeMs(text: string): number | null {
  if (!/^(\d+(ms|s|m|h|d|w|M|y)?)+$/.test(text)) return null;
  let total = 0;
  for (const m of text.matchAll(/(\d+)(ms|s|m|h|d|w|M|y)?/g)) total += Number(m[1]) * (TIME_UNITS_MS[m[2] ?? 's'] as number);
  return total;
}

/** nginx's `server` defaults: one failed attempt takes a server out for 10 s. */
const DEFAULT_MAX_FAILS = 1;
const DEFAULT_FAIL_TIMEOUT_MS = 10_000;

/** The value of a `key=value` server parameter, with its word. */
function serverParam(server: Directive, key: string): { word: Word; value: string } | undefined {
  const word = server.args.find((a, i) => i > 0 && a.value.startsWith(`${key}=`));
  return word === undefined ? undefined : { word, value: word.value.slice(key.length + 1) };
}

/** An upstream block, its servers, and what nginx makes of their failures. */
interface HealthPool {
  servers: Directive[];
  health: PoolHealth | null;
}

/** What one `proxy_pass` to an upstream runs with, from its own block and the blocks around it. */
interface ProxyPassUse {
  /** proxy_next_upstream other than `off` (nginx's default is `error timeout`) and more than one try. */
  redispatch: boolean;
  /** proxy_read_timeout (stream: proxy_timeout) in force, when the config writes one on the way; nginx's default is 60 s. */
  readTimeoutMs: number | undefined;
}

/** nginx's proxy_read_timeout and stream proxy_timeout default. */
const DEFAULT_READ_TIMEOUT_MS = 60_000;

/**
 * Every proxy_pass, with the settings in force where it is, per pool: an upstream's name (lower
 * case), or the address a literal proxy_pass names (the pool UpstreamRef gives it).
 */
function proxyPassesByPool(s: Scan, upstreamNames: Set<string>): Map<string, ProxyPassUse[]> {
  const result = new Map<string, ProxyPassUse[]>();
  type Inherited = { off: boolean; tries: number; readMs: number | undefined };
  const visit = (list: Directive[], inherited: Inherited, family: Family): void => {
    const here = { ...inherited };
    for (const d of list) {
      const arg = d.args[0]?.value;
      if (d.name === 'proxy_next_upstream' && arg !== undefined) here.off = arg === 'off';
      if (d.name === 'proxy_next_upstream_tries' && arg !== undefined && /^\d+$/.test(arg)) here.tries = Number(arg);
      // An upgraded (WebSocket) connection idles out on the read timeout: proxy_read_timeout in http, proxy_timeout in stream.
      if (d.name === (family === 'stream' ? 'proxy_timeout' : 'proxy_read_timeout') && arg !== undefined) here.readMs = nginxTimeMs(arg) ?? here.readMs;
    }
    for (const d of list) {
      const target = d.name === 'proxy_pass' ? d.args[0] : undefined;
      if (target !== undefined && !target.value.includes('$')) {
        const host = family === 'stream' ? target.value : urlAuthority(target.value)?.host;
        const name = host?.toLowerCase();
        const pool = name !== undefined && upstreamNames.has(name) ? name : proxyPassTarget(target, family === 'stream' ? 'stream' : 'http', upstreamNames)?.address;
        if (pool !== undefined) result.set(pool, [...(result.get(pool) ?? []), { redispatch: !here.off && here.tries !== 1, readTimeoutMs: here.readMs }]);
      }
      if (d.block === null || d.name === 'upstream') continue;
      const next: Family = d.name === 'http' || d.name === 'stream' || d.name === 'mail' ? d.name : family;
      // The read timeout of http does not carry into stream and back: each module has its own.
      visit(d.block, next === family ? here : { ...here, readMs: undefined }, next);
    }
  };
  visit(s.root, { off: false, tries: 0, readMs: undefined }, s.top === 'main' ? 'main' : 'http');
  return result;
}

/**
 * The cookie an upstream pins clients by: `hash $cookie_NAME [consistent]` keys on a cookie the
 * application sets (nginx OSS cannot insert one; `sticky cookie` is nginx Plus).
 */
function hashCookie(source: string, block: Directive[]): PoolHealth['cookie'] {
  const hash = block.find((d) => d.name === 'hash');
  const m = /^\$cookie_([A-Za-z0-9_]+)$/.exec(hash?.args[0]?.value ?? '');
  if (hash === undefined || m === null) return undefined;
  return { name: m[1] as string, mode: 'honour', indirect: false, at: statement(source, hash) };
}

/** A directive as a ConfigStatement; `text` is the tree's joined text, which every directive's offsets point into. */
function statement(text: string, d: Directive): ConfigStatement {
  return { text: text.slice(d.start, d.end), line: d.line, ...fileOf(d) };
}

/**
 * Every `upstream` block with what its first server says. nginx OSS has no active checks;
 * passive ejection (max_fails within fail_timeout) exists unless max_fails=0, and nginx
 * ignores it for an upstream of one server, which is then never marked down. The tunnel
 * timeout is the longest read timeout any location proxying to the upstream gives it.
 */
function healthPools(s: Scan): HealthPool[] {
  const blocks = upstreamBlocks(s);
  const uses = proxyPassesByPool(s, new Set(blocks.map((b) => (b.args[0] as Word).value.toLowerCase())));
  return blocks.map((block) => {
    const servers = (block.block as Directive[]).filter((d) => d.name === 'server' && d.block === null && d.args.length > 0);
    const first = servers[0];
    const name = (block.args[0] as Word).value;
    const used = uses.get(name.toLowerCase()) ?? [];
    const health: PoolHealth = { pool: name };
    if (first !== undefined && servers.length >= 2) {
      const maxFails = serverParam(first, 'max_fails')?.value;
      const failTimeout = serverParam(first, 'fail_timeout')?.value;
      const maxFailsCount = maxFails !== undefined && /^\d+$/.test(maxFails) ? Number(maxFails) : DEFAULT_MAX_FAILS;
      if (maxFailsCount > 0) {
        health.passive = { maxFails: maxFailsCount, failTimeoutMs: (failTimeout === undefined ? null : nginxTimeMs(failTimeout)) ?? DEFAULT_FAIL_TIMEOUT_MS };
      }
      if (used.some((u) => u.redispatch)) health.redispatch = true;
    }
    const cookie = hashCookie(s.tree.text, block.block as Directive[]);
    if (cookie !== undefined) health.cookie = cookie;
    const tunnel = tunnelTimeoutMs(used);
    if (tunnel !== undefined) health.tunnelTimeoutMs = tunnel;
    return { servers, health: Object.keys(health).length > 1 ? health : null };
  });
}

/** Every `upstream` block of the http and stream modules. */
function upstreamBlocks(s: Scan): Directive[] {
  const blocks: Directive[] = [];
  walk(s.root, s.top, s.top === 'main' ? 'main' : 'http', (d, context) => {
    if (d.name === 'upstream' && d.block !== null && (context === 'http' || context === 'stream') && d.args[0] !== undefined) blocks.push(d);
  });
  return blocks;
}

/** The longest read timeout the proxy_passes to a pool run with, when one of them has a written one on its way. */
function tunnelTimeoutMs(used: ProxyPassUse[]): number | undefined {
  if (!used.some((u) => u.readTimeoutMs !== undefined)) return undefined;
  return Math.max(...used.map((u) => u.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS));
}

/**
 * The pools nginx proxies to by address (`proxy_pass http://10.0.0.1:8080`): nginx neither checks
 * nor ejects such a server, so only a tunnel timeout a location writes is reported.
 */
function literalPools(s: Scan): PoolHealth[] {
  const uses = proxyPassesByPool(s, new Set(upstreamBlocks(s).map((b) => (b.args[0] as Word).value.toLowerCase())));
  return [...new Set(s.proxyPasses.map((p) => p.ref.pool))].flatMap((pool) => {
    const tunnel = tunnelTimeoutMs(uses.get(pool) ?? []);
    return tunnel === undefined ? [] : [{ pool, tunnelTimeoutMs: tunnel }];
  });
}

/** fail_timeout multiplied by the time scale; nginx reads it in whole seconds (a "500ms" fails `nginx -t`), so it rounds up to at least 1 s. */
function scaledFailTimeout(ms: number, scale: number): { text: string; note: string; lengthenedMs: number } {
  const exact = scaleMs(ms, scale, 1);
  const seconds = exact === 0 ? 0 : Math.max(1, Math.ceil(exact / 1000));
  const rounded = seconds * 1000 === exact ? '' : `${exact / 1000} s rounded up: nginx reads fail_timeout in whole seconds`;
  // nginx compares fail_timeout against its clock in whole seconds (ngx_time()), so a failed
  // server stays out up to 1 s longer than fail_timeout: at time scale 1 a budget covers that
  // second, scaled it does not shrink with the rest.
  const clockMs = scale < 1 && seconds > 0 ? Math.round(1000 * (1 - scale)) : 0;
  const clock = clockMs > 0 ? `nginx's 1 s clock does not scale: up to +${clockMs} ms` : '';
  const note = [rounded, clock].filter((x) => x !== '').join('; ');
  return { text: `${seconds}s`, note: note === '' ? '' : ` (${note})`, lengthenedMs: seconds * 1000 - exact + clockMs };
}

/** Every upstream server's fail_timeout, written or nginx's 10 s default, multiplied by the time scale. */
function scaleFailTimeouts(s: Scan, scale: number, edits: TextEdit[], mapped: Mapping[]): void {
  for (const pool of healthPools(s)) {
    for (const server of pool.servers) {
      const written = serverParam(server, 'fail_timeout');
      const ms = written === undefined ? DEFAULT_FAIL_TIMEOUT_MS : nginxTimeMs(written.value);
      if (ms === null) continue;
      const { text, note, lengthenedMs } = scaledFailTimeout(ms, scale);
      if (written !== undefined) {
        if (written.word.value === `fail_timeout=${text}` && lengthenedMs === 0) continue;
        edits.push({ start: written.word.start, end: written.word.end, text: `fail_timeout=${text}` });
        mapped.push({ kind: 'timing', from: written.word.value, to: `fail_timeout=${text}${note}`, line: server.line, ...fileOf(server), ...(lengthenedMs > 0 ? { lengthenedMs } : {}) });
        continue;
      }
      // Only where nginx would eject the server: a pool of two or more, max_fails not 0.
      if (pool.health?.passive === undefined || serverParam(server, 'max_fails')?.value === '0') continue;
      const last = server.args[server.args.length - 1] as Word;
      edits.push({ start: last.end, end: last.end, text: ` fail_timeout=${text}` });
      mapped.push({ kind: 'timing', from: `fail_timeout=10s (default)`, to: `fail_timeout=${text}${note}`, line: server.line, ...fileOf(server), ...(lengthenedMs > 0 ? { lengthenedMs } : {}) });
    }
  }
}

// ---- companion files ----

/** nginx's own prefix on Debian (`nginx -V`: --prefix=/usr/share/nginx; its modules/ links to /usr/lib/nginx/modules). */
const NGINX_PREFIX = '/usr/share/nginx';
/** nginx's conf prefix on Debian: a relative `include` in a published config is meant from here. */
const NGINX_ROOT = '/etc/nginx';

/**
 * Where nginx finds an included file: relative to its conf prefix, the directory of nginx.conf
 * (not of the including file). The tree the user passed stands for /etc/nginx: its directory is
 * looked in first, for relative paths and for absolute ones under /etc/nginx.
 */
function includeRules(sourcePath: string): IncludeRules {
  return { root: dirname(sourcePath), prefix: NGINX_ROOT };
}

/** Every `auth_basic_user_file` naming one file (no variables), in any file of the tree. */
function companionDirectives(s: Scan): Array<{ ref: CompanionRef; word: Word }> {
  const found: Array<{ ref: CompanionRef; word: Word }> = [];
  walk(s.root, s.top, s.top === 'main' ? 'main' : 'http', (d) => {
    const word = d.args[0];
    if (d.name === 'auth_basic_user_file' && word !== undefined && !notAFile(word.value)) {
      found.push({ ref: { path: word.value, line: d.line, kind: 'htpasswd', ...fileOf(d) }, word });
    }
  });
  return found;
}


function analyze(source: string, sourcePath: string): NginxConfigAnalysis {
  const s = scan(source, sourcePath, diskIncludes(includeRules(sourcePath)));
  const files = [...s.includes.flatMap((i) => i.members), ...readCompanions(companionDirectives(s).map((c) => c.ref), sourcePath, [NGINX_ROOT])];
  const upstreams = [...s.upstreamServers.map((u) => u.ref)];
  const seen = new Set<string>();
  for (const p of s.proxyPasses) {
    if (seen.has(p.ref.address)) continue;
    seen.add(p.ref.address);
    upstreams.push(p.ref);
  }
  const order = treeOrder(s.tree);
  upstreams.sort(order);
  const listeners = [...s.listens.flatMap((l) => (l.ref === null ? [] : [l.ref])), ...s.implicit.map((i) => i.ref)];
  listeners.sort(order);
  return {
    upstreams,
    listeners,
    fragment: s.fragment,
    mainSets: s.mainSets,
    pools: [...healthPools(s).flatMap((p) => p.health ?? []), ...literalPools(s)],
    ...(files.length > 0 ? { files } : {}),
  };
}

/** An nginx argument, quoted when it would not survive as a bare word. */
function ngxArg(value: string): string {
  return /[\s;{}#"'\\]/.test(value) ? `"${value.replace(/["\\]/g, '\\$&')}"` : value;
}

function render(source: string, sourcePath: string, analysis: ConfigAnalysis, plan: RenderPlan): RenderedConfig {
  const s = scan(source, sourcePath, analyzedIncludes(analysis));
  const text = s.tree.text;
  const runDir = plan.runDir.replace(/\/+$/, '');
  const names = new RunDirNames(runDir, [SITE_FILE, MAIN_FILE, ...TEMP_KINDS.map((k) => `tmp/${k}`)]);
  const copies = new TreeCopies(names, runDir, includeRules(sourcePath));
  const edits: TextEdit[] = [];
  const mapped: Mapping[] = [];
  const files: Record<string, string> = {};
  const replaceWord = (word: Word, value: string, kind: Mapping['kind'], d: Directive): void => {
    edits.push({ start: word.start, end: word.end, text: word.quote === '' ? ngxArg(value) : requote(word, value) });
    mapped.push({ kind, from: word.value, to: value, line: d.line, ...fileOf(d) });
  };
  const drop = (d: Directive): void => {
    edits.push(...commentOutEdits(s.tree.index, d.start, d.end));
    mapped.push({ kind: 'dropped', from: text.slice(d.start, d.end), to: '', line: d.line, ...fileOf(d) });
  };

  const scale = activeTimeScale(plan);
  if (scale !== null) scaleFailTimeouts(s, scale, edits, mapped);

  // Every included file is rendered by the same rules and the include names its rendered copy.
  for (const site of s.includes) {
    const to = copies.pattern(site.ref, site.members);
    edits.push({ start: site.word.start, end: site.word.end, text: site.word.quote === '' ? ngxArg(to) : requote(site.word, to) });
    mapped.push({ kind: 'path', from: site.ref.path, to, line: site.directive.line, ...fileOf(site.directive), companion: 'include' });
  }
  for (const { ref, word } of companionDirectives(s)) {
    const to = copyCompanion(analysis, ref, names, runDir, files, mapped);
    edits.push({ start: word.start, end: word.end, text: word.quote === '' ? ngxArg(to) : requote(word, to) });
  }

  for (const u of s.upstreamServers) {
    const to = planned(plan.upstreams, u.ref.address, 'test backend');
    const offset = u.word.start + (u.word.quote === '' ? 0 : 1);
    edits.push({ start: offset, end: offset + u.word.value.length, text: to });
    mapped.push({ kind: 'upstream', from: u.ref.address, to, line: u.ref.line, ...(u.ref.file === undefined ? {} : { file: u.ref.file }) });
  }
  for (const p of s.proxyPasses) {
    const to = planned(plan.upstreams, p.ref.address, 'test backend');
    edits.push({ start: p.start, end: p.end, text: to });
    mapped.push({ kind: 'upstream', from: p.ref.address, to, line: p.ref.line, ...(p.ref.file === undefined ? {} : { file: p.ref.file }) });
  }
  for (const l of s.listens) {
    const word = l.directive.args[0] as Word;
    if (l.spec.kind === 'unix') {
      replaceWord(word, `unix:${names.mapBase(l.spec.path, 'nginx.sock')}`, 'path', l.directive);
      continue;
    }
    if (l.dropped) {
      drop(l.directive);
      continue;
    }
    const to = `${LOOPBACK}:${planned(plan.ports, l.spec.port, 'loopback port')}`;
    replaceWord(word, to, 'listen', l.directive);
    if (l.spec.v6) {
      // ipv6only= is only valid on an IPv6 address; the listener is IPv4 loopback now.
      const args = l.directive.args;
      args.forEach((a, i) => {
        if (!a.value.startsWith('ipv6only=')) return;
        const prev = args[i - 1] as Word;
        edits.push({ start: prev.end, end: a.end, text: '' });
        mapped.push({ kind: 'dropped', from: a.value, to: '', line: l.directive.line, ...fileOf(l.directive) });
      });
    }
  }
  for (const i of s.implicit) {
    const to = `${LOOPBACK}:${planned(plan.ports, 80, 'loopback port')}`;
    edits.push({ start: i.server.end, end: i.server.end, text: ` listen ${to};` });
    mapped.push({ kind: 'listen', from: '*:80 (implicit)', to, line: i.server.line, ...fileOf(i.server) });
  }
  for (const d of s.others) {
    const arg = d.args[0];
    if (DROP_DIRECTIVES.has(d.name)) {
      drop(d);
    } else if (arg === undefined) {
      continue;
    } else if (CERT_DIRECTIVES.has(d.name)) {
      replaceWord(arg, plan.tls.certFile, 'certificate', d);
    } else if (KEY_DIRECTIVES.has(d.name)) {
      replaceWord(arg, plan.tls.keyFile, 'certificate', d);
    } else if (d.name === 'pid') {
      replaceWord(arg, `${runDir}/nginx.pid`, 'path', d);
    } else if ((d.name === 'error_log' || d.name === 'access_log') && !LOG_KEEP.test(arg.value)) {
      replaceWord(arg, names.mapBase(arg.value, d.name === 'error_log' ? 'error.log' : 'access.log'), 'path', d);
    } else if (TEMP_DIRECTIVES.has(d.name)) {
      replaceWord(arg, names.mapBase(arg.value, d.name.replace(/_temp_path$/, ''), 'tmp'), 'path', d);
    } else if (CACHE_DIRECTIVES.has(d.name)) {
      replaceWord(arg, names.mapBase(arg.value, 'cache', 'tmp'), 'path', d);
    } else if (d.name === 'load_module' && !arg.value.startsWith('/')) {
      // Relative to nginx's prefix, which -p moves to the run dir: Debian's prefix it was written for.
      replaceWord(arg, `${NGINX_PREFIX}/${arg.value}`, 'path', d);
    } else if (d.name === 'lock_file' || d.name === 'working_directory') {
      replaceWord(arg, d.name === 'lock_file' ? names.mapBase(arg.value, 'nginx.lock') : runDir, 'path', d);
    }
  }
  const renderedTree = s.tree.apply(edits);
  const copiesOf: Record<string, string> = {};
  for (const [file, copy] of renderedTree) {
    if (file.base === 0) continue;
    const name = copies.copyOf(file).slice(runDir.length + 1);
    files[name] = copy;
    copiesOf[name] = file.path;
  }
  const further = Object.keys(copiesOf).length > 0 ? { copiesOf } : {};
  const rendered = renderedTree.get(s.tree.files[0] as TreeFile) as string;
  mapped.splice(0, mapped.length, ...uniqueMappings(mapped, s.tree).sort(treeOrder(s.tree)));

  if (!s.fragment) {
    if (!s.mainSets.pid) mapped.push({ kind: 'path', from: 'pid (built-in default)', to: `${runDir}/nginx.pid` });
    if (!s.mainSets.errorLog) mapped.push({ kind: 'path', from: 'error_log (built-in default)', to: `${runDir}/error.log` });
    return { files: { [MAIN_FILE]: rendered, ...files }, main: MAIN_FILE, mapped, ...further };
  }
  mapped.push({ kind: 'wrap', from: sourcePath, to: `${MAIN_FILE}: http { include ${SITE_FILE}; }` });
  return { files: { [SITE_FILE]: rendered, [MAIN_FILE]: nginxMainConfig(runDir), ...files }, main: MAIN_FILE, source: SITE_FILE, mapped, ...further };
}

/** The main config lbdrill wraps a fragment in: Debian's mime types, everything else under runDir. */
function nginxMainConfig(runDir: string): string {
  const p = (rel: string): string => ngxArg(`${runDir}/${rel}`);
  return [
    '# Generated by lbdrill: runs site.conf, the file under test, as published.',
    `pid ${p('nginx.pid')};`,
    `error_log ${p('error.log')} notice;`,
    'worker_processes 2;',
    '',
    'events {',
    '    worker_connections 4096;',
    '}',
    '',
    'http {',
    '    include /etc/nginx/mime.types;',
    '    default_type application/octet-stream;',
    `    access_log ${p('access.log')};`,
    ...TEMP_KINDS.map((k) => `    ${k}_temp_path ${p(`tmp/${k}`)};`),
    `    include ${p(SITE_FILE)};`,
    '}',
    '',
  ].join('\n');
}

/**
 * Directories the caller creates (mode 0755, parents included) before starting nginx:
 * the generated temp paths, and runDir/tmp where the user's own temp and cache paths
 * are mapped (nginx creates those last components itself).
 */
export function nginxTempDirs(runDir: string): string[] {
  const dir = runDir.replace(/\/+$/, '');
  return [`${dir}/tmp`, ...TEMP_KINDS.map((k) => `${dir}/tmp/${k}`)];
}

/**
 * The `-g` string to start nginx with: `daemon off;` always (render comments out the
 * file's own `daemon`), plus `pid`/`error_log` only when a full config does not set them
 * at main level, since nginx rejects a duplicate `pid`. A fragment's generated main sets both.
 */
export function nginxGlobalDirectives(analysisOrSource: ConfigAnalysis | string, runDir: string): string {
  const analysis = typeof analysisOrSource === 'string' ? analyze(analysisOrSource, MAIN_FILE) : analysisOrSource;
  const mainSets = (analysis as Partial<NginxConfigAnalysis>).mainSets;
  if (!analysis.fragment && mainSets === undefined) {
    throw new LbdrillError('LBDRILL_ERR_INTERNAL', 'nginxGlobalDirectives needs an analysis made by nginxDialect.analyze, or the source');
  }
  const dir = runDir.replace(/\/+$/, '');
  const parts = ['daemon off;'];
  if (!analysis.fragment && mainSets?.pid !== true) parts.push(`pid ${ngxArg(`${dir}/nginx.pid`)};`);
  if (!analysis.fragment && mainSets?.errorLog !== true) parts.push(`error_log ${ngxArg(`${dir}/error.log`)} notice;`);
  return parts.join(' ');
}

/** nginx: `upstream`/`server`/`listen`/`proxy_pass` as published, mapped onto loopback. */
export const nginxDialect = { analyze, render } satisfies ConfigDialect;
