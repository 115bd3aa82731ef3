/**
 * The HAProxy dialect: reads a user's haproxy.cfg line by line, section by section, and
 * maps server addresses, binds, certificates and run-time paths onto the run's plan
 * without adding or removing a line.
 */
import { LbdrillError } from '../../errors.ts';
import type { ClientLimit, ClientLimits, ConfigAnalysis, ConfigAuthUser, ConfigDialect, ConfigStatement, SourceFile, ListenerRef, Mapping, PoolHealth, RenderPlan, RenderedConfig, UpstreamRef } from '../config-plan.ts';
import {
  LOOPBACK,
  RunDirNames,
  activeTimeScale,
  commentOutEdits,
  copyCompanion,
  formatMs,
  notAFile,
  readCompanions,
  hostPort,
  parseError,
  planned,
  requote,
  scaleMs,
  splitWords,
  type CompanionRef,
  type TextEdit,
  type Word,
} from '../config-text.ts';
import { statusRange } from '../status-range.ts';
import { ConfigTree, treeOrder, type TreeFile } from '../config-tree.ts';

const MAIN_FILE = 'haproxy.cfg';

/** Keywords that open a section; everything up to the next one belongs to it. */
const SECTIONS = new Set([
  'global',
  'defaults',
  'frontend',
  'backend',
  'listen',
  'peers',
  'resolvers',
  'userlist',
  'program',
  'cache',
  'mailers',
  'ring',
  'http-errors',
  'fcgi-app',
  'log-forward',
  'traces',
  'crt-store',
  'acme',
]);
/** Global keywords whose effect lbdrill undoes by commenting the line out. */
const DROP_GLOBAL = new Set(['daemon', 'chroot', 'ssl-dh-param-file']);

interface Line {
  number: number;
  words: Word[];
  /** offset of the first word, or of the comment. */
  start: number;
  end: number;
  /** the further -f file the line is in; undefined in the first. */
  file?: string;
}

/** Where a line is, for refs and mappings: its number, and its file when it is not the first. */
function at(line: Line): { line: number; file?: string } {
  return line.file === undefined ? { line: line.number } : { line: line.number, file: line.file };
}

interface Section {
  kind: string;
  name: string;
}

/** One address of a bind line. */
interface BindAddress {
  raw: string;
  /** the host as written; '' or '*' for every address. */
  host: string;
  port: number;
  v6: boolean;
}

/** Reads one bind address ("*:80", ":::443", "ipv4@0.0.0.0:8080"); null for a socket that is not TCP. */
function readBindAddress(raw: string, path: string, line: number): BindAddress | null {
  if (raw.includes('$')) throw parseError(path, line, `bind address "${raw}" uses an environment variable; lbdrill cannot map it`);
  const at = raw.indexOf('@');
  const family = at >= 0 ? raw.slice(0, at) : '';
  const rest = at >= 0 ? raw.slice(at + 1) : raw;
  if (rest.startsWith('/') || !['', 'ipv4', 'ipv6', 'tcp', 'tcp4', 'tcp6'].includes(family)) return null;
  const bracket = /^\[([^\]]*)\]:(.+)$/.exec(rest);
  const colon = rest.lastIndexOf(':');
  if (bracket === null && colon < 0) throw parseError(path, line, `missing port in bind address "${raw}"`);
  const host = bracket !== null ? (bracket[1] as string) : rest.slice(0, colon);
  const portText = bracket !== null ? (bracket[2] as string) : rest.slice(colon + 1);
  if (!/^\d+$/.test(portText)) throw parseError(path, line, `bind port "${portText}" cannot be mapped (only a single port can)`);
  const v6 = family === 'ipv6' || family === 'tcp6' || host.includes(':');
  return { raw, host, port: Number(portText), v6 };
}

/** The address a bind names, for telling apart two sockets on one port; nothing for a wildcard. */
function explicitAddress(a: BindAddress): { address?: string } {
  return ['', '*', '0.0.0.0', '::'].includes(a.host) ? {} : { address: a.host };
}

/** The backends a frontend or listen section sends requests to (`use_backend`, `default_backend`; a `listen` section's own servers). */
function routedPools(section: Section, lines: Line[]): string[] {
  const names = lines.flatMap((l) => {
    const [kw, name] = l.words;
    if (kw?.value === 'server' || kw?.value === 'server-template') return section.kind === 'listen' ? [section.name] : [];
    return (kw?.value === 'default_backend' || kw?.value === 'use_backend') && name !== undefined && !name.value.includes('%[') ? [name.value] : [];
  });
  return [...new Set(names)];
}

/** A server address normalised to host:port; the port defaults to 443 with `ssl`, else 80. */
function serverAddress(raw: string, ssl: boolean): string {
  const at = raw.indexOf('@');
  const family = at >= 0 ? raw.slice(0, at) : '';
  const rest = at >= 0 ? raw.slice(at + 1) : raw;
  if (family === 'unix' || family === 'abns' || rest.startsWith('/')) return raw;
  const fallback = ssl ? 443 : 80;
  const bracket = /^\[([^\]]*)\](?::([+-]?\d*))?$/.exec(rest);
  if (bracket !== null) return hostPort(bracket[1] as string, /^\d+$/.test(bracket[2] ?? '') ? Number(bracket[2]) : fallback);
  const colon = rest.lastIndexOf(':');
  const v6 = rest.indexOf(':') !== colon;
  if (colon < 0) return hostPort(rest, fallback);
  // Like HAProxy, the last colon separates the port even in IPv6: "::1:80" is [::1]:80.
  const portText = rest.slice(colon + 1);
  const host = rest.slice(0, colon);
  if (v6 && !/^[+-]?\d*$/.test(portText)) return hostPort(rest, fallback);
  return hostPort(host, /^\d+$/.test(portText) ? Number(portText) : fallback);
}

/** The lines of one file of the tree; offsets point into the tree's joined text. */
function readLines(file: TreeFile, further: boolean): Line[] {
  const lines: Line[] = [];
  const { index, content, base, path } = file;
  for (let n = 1; n <= index.lineCount; n++) {
    const start = index.lineStart(n);
    const end = index.lineEnd(n);
    const split = splitWords(content.slice(start, end), base + start, { comments: 'anywhere', midWordQuotes: true });
    if (split.unterminated) throw parseError(path, n, 'unmatched quote');
    if (split.words.length === 0) continue;
    lines.push({ number: n, words: split.words, start: (split.words[0] as Word).start, end: (split.words[split.words.length - 1] as Word).end, ...(further ? { file: path } : {}) });
  }
  return lines;
}

interface Scan {
  /** every -f file in order; `tree.index` holds the lines of the joined text all offsets point into. */
  tree: ConfigTree;
  lines: Array<{ line: Line; section: Section }>;
  upstreams: Array<{ ref: UpstreamRef; word: Word; line: Line }>;
  binds: Array<{ line: Line; section: Section; addresses: Array<BindAddress | null>; dropped: boolean; refs: ListenerRef[] }>;
}

function scan(source: string, path: string, further: readonly SourceFile[] = []): Scan {
  const tree = new ConfigTree();
  const lines: Scan['lines'] = [];
  for (const [n, f] of [{ path, content: source }, ...further].entries()) {
    // HAProxy reads each -f file on its own: a file starts outside any section; defaults carry over.
    let section: Section = { kind: '', name: '' };
    for (const line of readLines(tree.add(f.path, f.content).file, n > 0)) {
      const keyword = (line.words[0] as Word).value;
      if (SECTIONS.has(keyword)) section = { kind: keyword, name: line.words[1]?.value ?? '' };
      lines.push({ line, section });
    }
  }
  const result: Scan = { tree, lines, upstreams: [], binds: [] };
  const bySection = new Map<Section, Line[]>();
  for (const { line, section: s } of lines) {
    const list = bySection.get(s) ?? [];
    list.push(line);
    bySection.set(s, list);
  }

  for (const [s, sectionLines] of bySection) {
    if (s.kind === 'backend' || s.kind === 'listen') {
      for (const line of sectionLines) {
        const [keyword, name, ...rest] = line.words;
        const kw = keyword?.value;
        if (kw !== 'server' && kw !== 'server-template') continue;
        const addressWord = kw === 'server' ? rest[0] : rest[1];
        if (name === undefined || addressWord === undefined) throw parseError(line.file ?? path, line.number, `'${kw}' expects a name and an address`);
        if (addressWord.value.includes('$')) {
          throw parseError(line.file ?? path, line.number, `server address "${addressWord.value}" uses an environment variable; lbdrill cannot map it`);
        }
        const params = rest.slice(kw === 'server' ? 1 : 2).map((w) => w.value);
        const address = serverAddress(addressWord.value, params.includes('ssl'));
        result.upstreams.push({
          ref: { pool: s.name, name: name.value, address, ...at(line), backup: params.includes('backup') },
          word: addressWord,
          line,
        });
      }
    }
    if (s.kind === 'frontend' || s.kind === 'listen') {
      const binds = sectionLines.filter((l) => l.words[0]?.value === 'bind');
      const routed = routedPools(s, sectionLines);
      const parsed = binds.map((l) => {
        const spec = l.words[1];
        if (spec === undefined) throw parseError(l.file ?? path, l.number, "'bind' expects an address");
        return spec.value.split(',').map((raw) => readBindAddress(raw, l.file ?? path, l.number));
      });
      const v4Ports = new Set(parsed.flat().flatMap((a) => (a !== null && !a.v6 ? [a.port] : [])));
      binds.forEach((l, i) => {
        const addresses = parsed[i] as Array<BindAddress | null>;
        const inet = addresses.filter((a): a is BindAddress => a !== null);
        const dropped = inet.length > 0 && inet.length === addresses.length && inet.every((a) => a.v6 && v4Ports.has(a.port));
        const tls = l.words.slice(2).some((w) => w.value === 'ssl');
        const ports = new Set<number>();
        const refs = dropped
          ? []
          : inet.filter((a) => !ports.has(a.port) && ports.add(a.port)).map((a) => ({ spec: a.raw, port: a.port, ...explicitAddress(a), tls, serverNames: [], pools: routed, ...at(l) }));
        result.binds.push({ line: l, section: s, addresses, dropped, refs });
      });
    }
  }
  return result;
}

// ---- health and failover settings ----

/** HAProxy's time units (section 2.5 of its configuration manual); a bare number is milliseconds. */
const TIME_UNITS_MS: Readonly<Record<string, number>> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** An HAProxy time ("5s", "500", "1m") in milliseconds, or null when it is not one. */
export function haproxyTimeMs(text: string): number | null {
  const m = /^(\d+)(us|ms|s|m|h|d)?$/.exec(text);
  if (m === null) return null;
  return Number(m[1]) * (TIME_UNITS_MS[m[2] ?? 'ms'] as number);
}

/** HAProxy's built-in check settings (`inter`, `fall`, `rise`, `error-limit`). */
const DEFAULT_INTER_MS = 2000;
const DEFAULT_FALL = 3;
const DEFAULT_RISE = 2;
const DEFAULT_ERROR_LIMIT = 10;

/** Server keywords that take a value; knowing them keeps a value from being read as a keyword. */
const SERVER_VALUE_KEYWORDS = new Set([
  'addr', 'agent-addr', 'agent-inter', 'agent-port', 'agent-send', 'alpn', 'ca-file', 'check-alpn', 'check-proto', 'check-sni',
  'ciphers', 'ciphersuites', 'client-sigalgs', 'cookie', 'crl-file', 'crt', 'curves', 'downinter', 'error-limit', 'fall',
  'fastinter', 'guid', 'hash-key', 'id', 'init-addr', 'init-state', 'inter', 'log-bufsize', 'log-proto', 'max-reuse', 'maxconn',
  'maxqueue', 'minconn', 'namespace', 'observe', 'on-error', 'on-marked-down', 'on-marked-up', 'pool-conn-name', 'pool-low-conn',
  'pool-max-conn', 'pool-purge-delay', 'port', 'proto', 'proxy-v2-options', 'redir', 'resolve-net', 'resolve-opts',
  'resolve-prefer', 'resolvers', 'rise', 'set-proxy-v2-tlv-fmt', 'shard', 'sigalgs', 'slowstart', 'sni', 'socks4', 'source',
  'ssl-max-ver', 'ssl-min-ver', 'tcp-ut', 'track', 'usesrc', 'verify', 'verifyhost', 'weight', 'ws',
]);
/** Server durations a time scale applies to. */
const SCALED_SERVER_KEYWORDS = new Set(['inter', 'fastinter', 'downinter', 'agent-inter', 'slowstart']);

/** One `keyword [value]` of a server, server-template or default-server line. */
interface Param {
  key: Word;
  value: Word | null;
}

/** Index of the first parameter word: after `server NAME ADDR`, `server-template PREFIX N ADDR`, `default-server`. */
function paramsFrom(keyword: string): number {
  return keyword === 'server' ? 3 : keyword === 'server-template' ? 4 : 1;
}

function readParams(words: Word[], from: number): Param[] {
  const params: Param[] = [];
  for (let i = from; i < words.length; i++) {
    const key = words[i] as Word;
    const value = SERVER_VALUE_KEYWORDS.has(key.value) ? words[i + 1] ?? null : null;
    params.push({ key, value });
    if (value !== null) i++;
  }
  return params;
}

/** Server settings in force: keyword -> value ('' for a flag) and the line that set it; `no-X` removes X. */
type Settings = Map<string, { value: string; line: Line }>;

function applyParams(into: Settings, params: Param[], line: Line): void {
  for (const p of params) {
    const key = p.key.value;
    if (key.startsWith('no-')) into.delete(key.slice(3));
    else into.set(key, { value: p.value?.value ?? '', line });
  }
}

/** `option httpchk [<uri>] | [<method> <uri> [<version>]]`: what the check sends (OPTIONS / without arguments). */
interface HttpChk {
  method: string;
  path: string;
  line: Line;
}

/** A backend's `http-check` rules (2.2+): they replace the defaults' when it has any of its own. */
interface CheckRules {
  /** `http-check send meth M uri U`. */
  send?: { method?: string; uri?: string; line: Line };
  /** the first `http-check expect`; `status` null when it expects something other than one run of statuses. */
  expect?: { status: { min: number; max: number } | null; line: Line };
  /** `http-check connect port N`. */
  port?: number;
}

/** `cookie NAME [rewrite|insert|prefix] [indirect] ...`; without a mode HAProxy only reads a cookie the application sets. */
interface Cookie {
  name: string;
  mode: 'insert' | 'rewrite' | 'prefix' | 'honour';
  indirect: boolean;
  line: Line;
}

/** What a defaults section hands to the proxies after it, and what a backend ends up with. */
interface ProxyHealth {
  /** `option httpchk`, null when `no option httpchk` or another check type replaced it, undefined when unset. */
  httpchk: HttpChk | null | undefined;
  /** `option ssl-hello-chk`, `option tcp-check`, ...: a check that is not HTTP and more than a connect. */
  otherCheck: Line | undefined;
  rules: CheckRules | undefined;
  redispatch: boolean | undefined;
  cookie: Cookie | undefined;
  /** `timeout tunnel`, in ms. */
  tunnelMs: number | undefined;
  defaultServer: Settings;
}

function copyHealth(h: ProxyHealth): ProxyHealth {
  return { ...h, defaultServer: new Map(h.defaultServer) };
}

const EMPTY_HEALTH: ProxyHealth = { httpchk: undefined, otherCheck: undefined, rules: undefined, redispatch: undefined, cookie: undefined, tunnelMs: undefined, defaultServer: new Map() };

/** A backend or listen section with its servers' settings in force (defaults, default-server, own words merged). */
interface HealthPool {
  name: string;
  health: ProxyHealth;
  servers: Array<{ line: Line; settings: Settings }>;
}

/** `option httpchk` as written: no argument is OPTIONS /, one is the URI, two or more are method, URI and version. */
function readHttpChk(args: string[], line: Line): HttpChk {
  if (args.length === 0) return { method: 'OPTIONS', path: '/', line };
  if (args.length === 1) return { method: 'OPTIONS', path: args[0] as string, line };
  return { method: (args[0] as string).toUpperCase(), path: args[1] as string, line };
}

/** Check types other than HTTP (HAProxy configuration manual, section 4: option ...-chk / ...-check). */
const OTHER_CHECKS = new Set(['ssl-hello-chk', 'tcp-check', 'mysql-check', 'pgsql-check', 'redis-check', 'smtpchk', 'ldap-check', 'spop-check', 'external-check']);

/** Matchers of `http-check expect` (HAProxy configuration manual, http-check expect). */
const EXPECT_MATCHERS = new Set(['status', 'rstatus', 'hdr', 'fhdr', 'string', 'rstring', 'binary', 'rbinary']);

/** The statuses an `http-check expect` accepts as one range; null for a negated or non-status expectation, or several runs. */
function expectedStatus(args: string[]): { min: number; max: number } | null {
  const at = args.findIndex((a) => EXPECT_MATCHERS.has(a));
  const matcher = args[at];
  const pattern = args[at + 1];
  if (at < 0 || pattern === undefined || args[at - 1] === '!') return null;
  if (matcher === 'status') {
    // "200", "200-399", "200,204" (2.2+: a list of codes and ranges)
    const parts = pattern.split(',').map((p) => /^(\d{3})(?:-(\d{3}))?$/.exec(p));
    if (parts.some((m) => m === null)) return null;
    const ranges = parts.map((m) => [Number((m as RegExpExecArray)[1]), Number((m as RegExpExecArray)[2] ?? (m as RegExpExecArray)[1])] as const);
    return statusRange((code) => ranges.some(([min, max]) => code >= min && code <= max));
  }
  if (matcher === 'rstatus') {
    let re: RegExp;
    try {
      re = new RegExp(pattern);
    } catch {
      return null;
    }
    return statusRange((code) => re.test(String(code)));
  }
  return null;
}

/** Reads defaults, backend and listen sections in order, as HAProxy does: a proxy inherits the last defaults (or `from NAME`). */
function healthPools(s: Scan): HealthPool[] {
  const named = new Map<string, ProxyHealth>();
  let lastDefaults = copyHealth(EMPTY_HEALTH);
  let current: ProxyHealth | null = null;
  let pool: HealthPool | null = null;
  const pools: HealthPool[] = [];
  let section: Section | null = null;
  let ownRules = false;
  for (const { line, section: sec } of s.lines) {
    const words = line.words;
    if (sec !== section) {
      section = sec;
      const fromIndex = words.findIndex((w, i) => i >= 1 && w.value === 'from');
      const base = fromIndex > 0 ? named.get(words[fromIndex + 1]?.value ?? '') : undefined;
      pool = null;
      current = null;
      ownRules = false;
      if (sec.kind === 'defaults') {
        current = copyHealth(base ?? EMPTY_HEALTH);
        lastDefaults = current;
        if (fromIndex !== 1 && words[1] !== undefined) named.set(words[1].value, current);
      } else if (sec.kind === 'backend' || sec.kind === 'listen') {
        current = copyHealth(base ?? lastDefaults);
        pool = { name: sec.name, health: current, servers: [] };
        pools.push(pool);
      }
      continue;
    }
    if (current === null) continue;
    const v = words.map((w) => w.value);
    const negated = v[0] === 'no';
    const at = negated ? 1 : 0;
    if (v[at] === 'option' && v[at + 1] === 'httpchk') {
      current.httpchk = negated ? null : readHttpChk(v.slice(at + 2), line);
      current.otherCheck = undefined;
    } else if (v[at] === 'option' && OTHER_CHECKS.has(v[at + 1] ?? '')) {
      // The last check option of a proxy is its check type.
      current.otherCheck = negated ? undefined : line;
      if (!negated) current.httpchk = null;
    } else if (v[at] === 'option' && v[at + 1] === 'redispatch') {
      current.redispatch = !negated;
    } else if (v[0] === 'cookie' && v[1] !== undefined) {
      const mode = v.slice(2).find((w): w is 'insert' | 'rewrite' | 'prefix' => w === 'insert' || w === 'rewrite' || w === 'prefix');
      current.cookie = { name: v[1], mode: mode ?? 'honour', indirect: v.includes('indirect'), line };
    } else if (v[0] === 'timeout' && v[1] === 'tunnel' && v[2] !== undefined) {
      current.tunnelMs = haproxyTimeMs(v[2]) ?? current.tunnelMs;
    } else if (v[0] === 'http-check' && (v[1] === 'send' || v[1] === 'expect' || v[1] === 'connect')) {
      if (!ownRules) current.rules = {};
      ownRules = true;
      const rules = current.rules as CheckRules;
      const after = (key: string): string | undefined => {
        const i = v.indexOf(key, 2);
        return i > 0 ? v[i + 1] : undefined;
      };
      if (v[1] === 'send' && rules.send === undefined) {
        const method = after('meth');
        const uri = after('uri');
        rules.send = { ...(method !== undefined ? { method: method.toUpperCase() } : {}), ...(uri !== undefined ? { uri } : {}), line };
      } else if (v[1] === 'expect' && rules.expect === undefined) {
        rules.expect = { status: expectedStatus(v.slice(2)), line };
      } else if (v[1] === 'connect' && /^\d+$/.test(after('port') ?? '')) {
        rules.port = Number(after('port'));
      }
    } else if (v[0] === 'default-server') {
      applyParams(current.defaultServer, readParams(words, 1), line);
    } else if (pool !== null && (v[0] === 'server' || v[0] === 'server-template')) {
      const settings = new Map(current.defaultServer);
      applyParams(settings, readParams(words, paramsFrom(v[0])), line);
      pool.servers.push({ line, settings });
    }
  }
  return pools;
}

function count(settings: Settings, key: string, fallback: number): number {
  const text = settings.get(key)?.value;
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : fallback;
}

function time(settings: Settings, key: string): number | undefined {
  const text = settings.get(key)?.value;
  return text === undefined ? undefined : haproxyTimeMs(text) ?? undefined;
}

/** A line as a ConfigStatement: its words as written, without a trailing comment. */
function statement(source: string, line: Line): ConfigStatement {
  return { text: source.slice(line.start, line.end), ...at(line) };
}

/** The active check a checked server gets: HTTP with `option httpchk` (method, URI and expectation), else a TCP connect. */
function activeCheck(source: string, pool: HealthPool, set: Settings, intervalMs: number): NonNullable<PoolHealth['active']> {
  const { httpchk, rules } = pool.health;
  const port = count(set, 'port', rules?.port ?? 0);
  const common = { intervalMs, fall: count(set, 'fall', DEFAULT_FALL), rise: count(set, 'rise', DEFAULT_RISE), ...(port > 0 ? { port } : {}) };
  if (httpchk === null || httpchk === undefined) {
    // No HTTP request: a plain connect (`check` alone), or the protocol check that option names.
    return { ...common, at: statement(source, pool.health.otherCheck ?? (set.get('check') as { line: Line }).line) };
  }
  const expect = rules?.expect;
  // An expectation that is not a run of statuses (a body string, a header) decides the check: it is what `at` shows.
  const at = expect !== undefined && expect.status === null ? expect.line : rules?.send?.line ?? httpchk.line;
  return {
    method: rules?.send?.method ?? httpchk.method,
    path: rules?.send?.uri ?? httpchk.path,
    ...common,
    ...(expect !== undefined && expect.status !== null ? { expectStatus: expect.status } : {}),
    at: statement(source, at),
  };
}

/**
 * A pool's health as its first checked server (else its first server) has it: servers of
 * one backend normally share their settings through default-server.
 */
function poolHealth(source: string, pool: HealthPool): PoolHealth | null {
  const server = pool.servers.find((x) => x.settings.has('check')) ?? pool.servers[0];
  if (server === undefined) return null;
  const set = server.settings;
  const health: PoolHealth = { pool: pool.name };
  const interMs = time(set, 'inter') ?? DEFAULT_INTER_MS;
  if (set.has('check')) health.active = activeCheck(source, pool, set, interMs);
  const observe = set.get('observe')?.value;
  if (observe === 'layer4' || observe === 'layer7') {
    // HAProxy has no ejection window: a server the observed errors took down is probed again after downinter (else inter).
    health.passive = { maxFails: count(set, 'error-limit', DEFAULT_ERROR_LIMIT), failTimeoutMs: time(set, 'downinter') ?? interMs };
  }
  const slowstart = time(set, 'slowstart');
  if (slowstart !== undefined && slowstart > 0) health.slowstartMs = slowstart;
  if (set.get('on-marked-down')?.value === 'shutdown-sessions') health.shutdownSessions = true;
  if (pool.health.redispatch === true) health.redispatch = true;
  const cookie = pool.health.cookie;
  if (cookie !== undefined) health.cookie = { name: cookie.name, mode: cookie.mode, indirect: cookie.indirect, at: statement(source, cookie.line) };
  if (pool.health.tunnelMs !== undefined) health.tunnelTimeoutMs = pool.health.tunnelMs;
  return Object.keys(health).length > 1 ? health : null;
}

/** Bind keywords that choose TLS versions (HAProxy configuration manual, bind options; also `ssl-default-bind-options`). */
const TLS_VERSION_KEYWORD = /^(ssl-min-ver|ssl-max-ver|no-sslv3|no-tlsv1[0-3]|force-sslv3|force-tlsv1[0-3])$/;

/** What decides a TLS bind's versions: its own version keywords, else the global `ssl-default-bind-options`; undefined when neither says. */
function tlsProtocols(source: string, s: Scan, bindLine: Line): ConfigStatement | undefined {
  if (bindLine.words.slice(2).some((w) => TLS_VERSION_KEYWORD.test(w.value))) return statement(source, bindLine);
  const global = s.lines.find(
    ({ line, section }) => section.kind === 'global' && line.words[0]?.value === 'ssl-default-bind-options' && line.words.slice(1).some((w) => TLS_VERSION_KEYWORD.test(w.value)),
  );
  return global === undefined ? undefined : statement(source, global.line);
}

/** A path as an HAProxy word, quoted when it would not survive bare. */
function haproxyArg(value: string): string {
  return /[\s#"'\\]/.test(value) ? `"${value.replace(/["\\$]/g, '\\$&')}"` : value;
}

// ---- companion files ----

/** A companion file named in the text, with the span its path occupies: a whole word, or the first argument inside one. */
interface CompanionSpan extends CompanionRef {
  /** the word that is the path (errorfile), or null when the path sits inside a word (`map(<path>,...)`). */
  word: Word | null;
  start: number;
  end: number;
}

/** The file argument of a map converter or action: map(), map_str(), map_beg() ..., set-map(), del-map(). */
const MAP_FILE = /\bmap(?:_[a-z0-9_]+)?\(\s*([^,)\s"']+)/dg;
/** http-request/http-response actions that may answer from a file (`file`, `lf-file`, `errorfile` <path>). */
const FILE_ACTIONS = new Set(['return', 'deny', 'tarpit']);
const FILE_KEYWORDS = new Set(['errorfile', 'file', 'lf-file']);

function companionSpans(s: Scan): CompanionSpan[] {
  const spans: CompanionSpan[] = [];
  const whole = (word: Word | undefined, line: Line): void => {
    if (word !== undefined) spans.push({ path: word.value, ...at(line), kind: 'errorfile', word, start: word.start, end: word.end });
  };
  for (const { line } of s.lines) {
    const words = line.words;
    const keyword = (words[0] as Word).value;
    if (keyword === 'errorfile') whole(words[2], line);
    const answers = keyword === 'http-error' || ((keyword === 'http-request' || keyword === 'http-response' || keyword === 'http-after-response') && FILE_ACTIONS.has(words[1]?.value ?? ''));
    for (let i = 1; answers && i < words.length - 1; i++) {
      if (FILE_KEYWORDS.has((words[i] as Word).value)) whole(words[++i], line);
    }
    for (const word of words) {
      for (const m of word.raw.matchAll(MAP_FILE)) {
        const [from, to] = (m.indices as RegExpIndicesArray)[1] as [number, number];
        spans.push({ path: m[1] as string, ...at(line), kind: 'map', word: null, start: word.start + from, end: word.start + to });
      }
    }
  }
  return spans.filter((c) => !notAFile(c.path));
}

/** `further`: the second and later -f files, in order (HAProxy reads them as one config). */
function analyze(source: string, sourcePath: string, further: readonly SourceFile[] = []): ConfigAnalysis {
  const s = scan(source, sourcePath, further);
  // Offsets of every line are in the tree's text (all -f files in order), so statements are cut from it.
  const text = s.tree.text;
  // A relative path is HAProxy's working directory's; lbdrill looks next to the config.
  const files = readCompanions(companionSpans(s), sourcePath);
  const pools = healthPools(s);
  // Weight and cookie value as the server has them, default-server included (what HAProxy balances by).
  const where = (l: { line: number; file?: string }): string => `${l.file ?? ''}:${l.line}`;
  const serverSettings = new Map(pools.flatMap((p) => p.servers.map((x) => [where(at(x.line)), x.settings] as const)));
  const upstreams = s.upstreams.map(({ ref }) => {
    const set = serverSettings.get(where(ref));
    const weight = set?.get('weight')?.value;
    const cookie = set?.get('cookie')?.value;
    return {
      ...ref,
      ...(weight !== undefined && /^\d+$/.test(weight) ? { weight: Number(weight) } : {}),
      ...(cookie !== undefined ? { cookieValue: cookie } : {}),
      // `ssl` on the server or its default-server (and no `no-ssl`): HAProxy speaks TLS to it.
      ...(set?.has('ssl') ? { tls: true as const } : {}),
    };
  });
  const limits = clientLimits(text, s);
  const listeners = s.binds.flatMap((b) => {
    const tls = b.refs.some((r) => r.tls) ? tlsProtocols(text, s, b.line) : undefined;
    const own = limits.get(b.section);
    return b.refs.map((r) => ({ ...r, ...(r.tls && tls !== undefined ? { tlsProtocols: tls } : {}), ...(own ? { limits: own } : {}) }));
  });
  const authUsers = userlistUsers(s);
  return {
    upstreams,
    listeners: listeners.sort(treeOrder(s.tree)),
    fragment: false,
    pools: pools.flatMap((p) => poolHealth(text, p) ?? []),
    ...(authUsers.length > 0 ? { authUsers } : {}),
    ...(files.length > 0 ? { files } : {}),
    ...(further.length > 0 ? { mains: [...further] } : {}),
  };
}

// ---- client limits ----

/** HAProxy's buffer defaults (tune.bufsize, tune.maxrewrite): a request head must fit in bufsize - maxrewrite. */
const DEFAULT_BUFSIZE = 16_384;
const DEFAULT_MAXREWRITE = 1024;

/**
 * Each frontend's (and listen section's) client limits, with the defaults section it inherits:
 * the head must arrive within `timeout http-request`, else `timeout client`; a body within
 * `timeout http-request` too with `option http-buffer-request`, else it may be silent for
 * `timeout client` as documented (HAProxy 2.6 did not cut a stalled body streamed to a server
 * then: limits.slow-body shows it); the whole head must fit in tune.bufsize - tune.maxrewrite, or 400.
 */
function clientLimits(text: string, s: Scan): Map<Section, ClientLimits> {
  type Timeouts = { httpRequest?: Line; client?: Line; bufferRequest?: Line | null };
  const named = new Map<string, Timeouts>();
  const tune: { bufsize?: Line; maxrewrite?: Line } = {};
  let lastDefaults: Timeouts = {};
  const own = new Map<Section, Timeouts>();
  let section: Section | null = null;
  let current: Timeouts | null = null;
  for (const { line, section: sec } of s.lines) {
    const v = line.words.map((w) => w.value);
    if (sec !== section) {
      section = sec;
      const fromIndex = v.findIndex((w, i) => i >= 1 && w === 'from');
      const base = fromIndex > 0 ? named.get(v[fromIndex + 1] ?? '') : undefined;
      current = null;
      if (sec.kind === 'defaults') {
        current = { ...(base ?? {}) };
        lastDefaults = current;
        if (fromIndex !== 1 && v[1] !== undefined) named.set(v[1], current);
      } else if (sec.kind === 'frontend' || sec.kind === 'listen') {
        current = { ...(base ?? lastDefaults) };
        own.set(sec, current);
      }
      continue;
    }
    if (sec.kind === 'global' && (v[0] === 'tune.bufsize' || v[0] === 'tune.maxrewrite')) tune[v[0] === 'tune.bufsize' ? 'bufsize' : 'maxrewrite'] = line;
    if (current !== null && (v[0] === 'option' || v[0] === 'no') && v.slice(0, 3).join(' ').replace(/^no /, '') === 'option http-buffer-request') current.bufferRequest = v[0] === 'no' ? null : line;
    if (current === null || v[0] !== 'timeout' || v[2] === undefined) continue;
    if (v[1] === 'http-request') current.httpRequest = line;
    if (v[1] === 'client') current.client = line;
  }
  const timeoutOf = (line: Line): ClientLimit => ({ value: haproxyTimeMs(line.words[2]?.value ?? '') ?? null, at: statement(text, line), source: statement(text, line).text });
  const number = (line: Line | undefined, fallback: number): number => (line && /^\d+$/.test(line.words[1]?.value ?? '') ? Number(line.words[1]?.value) : fallback);
  const noClient: ClientLimit = { value: null, source: 'no timeout client: HAProxy waits forever' };
  const bufsize = number(tune.bufsize, DEFAULT_BUFSIZE);
  const maxrewrite = number(tune.maxrewrite, DEFAULT_MAXREWRITE);
  const bufferSource = [tune.bufsize ? statement(text, tune.bufsize).text : `HAProxy default: tune.bufsize ${DEFAULT_BUFSIZE}`, tune.maxrewrite ? statement(text, tune.maxrewrite).text : `tune.maxrewrite ${DEFAULT_MAXREWRITE}`].join(' - ');
  const stated = tune.bufsize ?? tune.maxrewrite;
  const headerBytes: ClientLimits['headerBytes'] = { value: bufsize - maxrewrite, scope: 'head', source: bufferSource, ...(stated ? { at: statement(text, stated) } : {}) };
  return new Map(
    [...own].map(([sec, t]) => {
      // With option http-buffer-request the body (up to a buffer) is waited for under timeout http-request.
      const buffered = t.bufferRequest && t.httpRequest ? { ...timeoutOf(t.httpRequest), source: `${statement(text, t.httpRequest).text} with option http-buffer-request` } : undefined;
      const body = buffered ?? (t.client ? timeoutOf(t.client) : noClient);
      const head = t.httpRequest ? timeoutOf(t.httpRequest) : t.client ? { ...timeoutOf(t.client), source: `no timeout http-request: ${statement(text, t.client).text}` } : noClient;
      return [sec, { headerTimeoutMs: head, bodyTimeoutMs: body, headerBytes }] as const;
    }),
  );
}

/** `user NAME [password HASH | insecure-password PASS]` lines of every userlist section. */
function userlistUsers(s: Scan): ConfigAuthUser[] {
  return s.lines.flatMap(({ line, section }) => {
    const [kw, name, ...rest] = line.words.map((w) => w.value);
    if (section.kind !== 'userlist' || kw !== 'user' || name === undefined) return [];
    const clear = rest.indexOf('insecure-password');
    const password = clear >= 0 ? rest[clear + 1] : undefined;
    return [{ name, ...(password !== undefined ? { password } : {}), list: section.name, ...at(line) }];
  });
}

function render(source: string, sourcePath: string, analysis: ConfigAnalysis, plan: RenderPlan): RenderedConfig {
  const s = scan(source, sourcePath, analysis.mains);
  const text = s.tree.text;
  const runDir = plan.runDir.replace(/\/+$/, '');
  const names = new RunDirNames(runDir, [MAIN_FILE]);
  const edits: TextEdit[] = [];
  const mapped: Mapping[] = [];
  const files: Record<string, string> = {};
  const replace = (word: Word, value: string, kind: Mapping['kind'], line: Line, from = word.value): void => {
    edits.push({ start: word.start, end: word.end, text: requote(word, value) });
    mapped.push({ kind, from, to: value, ...at(line) });
  };
  /** Removes `words[i]` (and its value when it takes one) with the space before it. */
  const remove = (words: Word[], i: number, takesValue: boolean, line: Line): void => {
    const last = words[takesValue ? i + 1 : i] ?? (words[i] as Word);
    const prev = words[i - 1] as Word;
    edits.push({ start: prev.end, end: last.end, text: '' });
    mapped.push({ kind: 'dropped', from: text.slice((words[i] as Word).start, last.end), to: '', ...at(line) });
  };
  /** Certificate parameters shared by bind, server and default-server lines. */
  const certParams = (words: Word[], line: Line, from: number): void => {
    for (let i = from; i < words.length; i++) {
      const kw = (words[i] as Word).value;
      const value = words[i + 1];
      if (value === undefined) break;
      if (kw === 'crt') replace(value, plan.tls.pemFile, 'certificate', line);
      else if (kw === 'ca-file' || kw === 'ca-verify-file') replace(value, plan.tls.certFile, 'certificate', line);
      else if (kw === 'crt-list') {
        edits.push({ start: (words[i] as Word).start, end: value.end, text: `crt ${plan.tls.pemFile}` });
        mapped.push({ kind: 'certificate', from: `crt-list ${value.value}`, to: `crt ${plan.tls.pemFile}`, ...at(line) });
      } else if (kw === 'crl-file') remove(words, i, true, line);
      else continue;
      i++;
    }
  };

  for (const u of s.upstreams) replace(u.word, planned(plan.upstreams, u.ref.address, 'test backend'), 'upstream', u.line, u.ref.address);
  for (const c of companionSpans(s)) {
    // The copy is the file HAProxy loads, so `set map <copy>` on the runtime API updates what routing reads.
    const to = copyCompanion(analysis, c, names, runDir, files, mapped);
    if (c.word !== null) edits.push({ start: c.start, end: c.end, text: c.word.quote === '' ? haproxyArg(to) : requote(c.word, to) });
    else if (/[\s,()"'#\\]/.test(to)) throw new LbdrillError('LBDRILL_ERR_INTERNAL', `run directory ${runDir} cannot be written inside a map() argument`);
    else edits.push({ start: c.start, end: c.end, text: to });
  }

  const scale = activeTimeScale(plan);
  if (scale !== null) scaleDurations(s, scale, edits, mapped);
  if (plan.fdLimit !== undefined) fitFdLimit(s, plan.fdLimit, edits, mapped);
  const runtimeLine = plan.runtimeSocket === undefined ? undefined : runtimeSocketLine(s);

  const bindLines = new Set<Line>();
  for (const b of s.binds) {
    bindLines.add(b.line);
    const words = b.line.words;
    if (b.dropped) {
      edits.push(...commentOutEdits(s.tree.index, b.line.start, b.line.end));
      mapped.push({ kind: 'dropped', from: text.slice(b.line.start, b.line.end), to: '', ...at(b.line) });
      continue;
    }
    const specWord = words[1] as Word;
    const mappedAddresses = b.addresses.map((a, i) => {
      if (a !== null) return `${LOOPBACK}:${plan.addressPorts?.get(`${a.host}:${a.port}`) ?? planned(plan.ports, a.port, 'loopback port')}`;
      const raw = specWord.value.split(',')[i] as string;
      const socket = raw.startsWith('/') ? raw : raw.startsWith('unix@') ? raw.slice(5) : null;
      return socket === null ? raw : names.mapBase(socket, 'haproxy.sock');
    });
    const spec = [...new Set(mappedAddresses)].join(',');
    if (spec !== specWord.value) replace(specWord, spec, 'listen', b.line);
    const wasV6 = b.addresses.some((a) => a?.v6 === true);
    for (let i = 2; i < words.length; i++) {
      const kw = (words[i] as Word).value;
      if (wasV6 && (kw === 'v4v6' || kw === 'v6only')) remove(words, i, false, b.line);
      // A bind pinned to a NIC would never see loopback traffic.
      if (kw === 'interface') remove(words, i++, true, b.line);
    }
    certParams(words, b.line, 2);
  }

  for (const { line, section } of s.lines) {
    if (bindLines.has(line)) continue;
    const words = line.words;
    const keyword = (words[0] as Word).value;
    if (section.kind === 'global' && DROP_GLOBAL.has(keyword)) {
      edits.push(...commentOutEdits(s.tree.index, line.start, line.end));
      mapped.push({ kind: 'dropped', from: text.slice(line.start, line.end), to: '', ...at(line) });
    } else if (section.kind === 'global' && keyword === 'pidfile' && words[1] !== undefined) {
      replace(words[1], `${runDir}/haproxy.pid`, 'path', line);
    } else if (section.kind === 'global' && keyword === 'server-state-file' && words[1] !== undefined) {
      replace(words[1], names.mapBase(words[1].value, 'haproxy.state'), 'path', line);
    } else if (line === runtimeLine && plan.runtimeSocket !== undefined) {
      pointRuntimeSocket(line, plan.runtimeSocket, edits, mapped);
    } else if (section.kind === 'global' && keyword === 'stats' && words[1]?.value === 'socket' && words[2] !== undefined) {
      replace(words[2], names.map(words[2].value, 'haproxy.sock'), 'path', line);
    } else if (keyword === 'log' && words[1] !== undefined && /^(\/|unix@)/.test(words[1].value)) {
      // No syslog daemon here: the log goes to the process's stdout, which the runner keeps.
      const hasFormat = words.some((w) => w.value === 'format');
      replace(words[1], hasFormat ? 'stdout' : 'stdout format raw', 'path', line);
    } else if ((keyword === 'server' || keyword === 'default-server' || keyword === 'server-template') && (section.kind === 'backend' || section.kind === 'listen' || section.kind === 'defaults')) {
      certParams(words, line, keyword === 'default-server' ? 1 : keyword === 'server' ? 3 : 4);
    }
  }
  mapped.sort(treeOrder(s.tree));
  const rendered = [...s.tree.apply(edits).values()];
  let main = rendered[0] as string;
  if (plan.runtimeSocket !== undefined && runtimeLine === undefined) {
    // HAProxy merges every global section; one after the last line moves no line number.
    const socket = `stats socket ${haproxyArg(plan.runtimeSocket)} mode 600 level admin`;
    main += `${main === '' || main.endsWith('\n') ? '' : '\n'}\nglobal\n    ${socket}\n`;
    mapped.push({ kind: 'runtime-api', from: 'no stats socket', to: `appended after the last line: global / ${socket}` });
  }
  // The further -f files keep their names (made unique) in the run dir, passed in the same order.
  const extraMains = s.tree.files.slice(1).map((f) => names.mapBase(f.path, 'haproxy.cfg').slice(runDir.length + 1));
  extraMains.forEach((name, i) => (files[name] = rendered[i + 1] as string));
  const copiesOf = Object.fromEntries(extraMains.map((name, i) => [name, (s.tree.files[i + 1] as TreeFile).path]));
  return { files: { [MAIN_FILE]: main, ...files }, main: MAIN_FILE, mapped, ...(extraMains.length > 0 ? { extraMains, copiesOf } : {}) };
}

/**
 * File descriptors HAProxy needs besides two per connection (client and server side): listeners,
 * health checks, pipes, the stats socket, logs. It asks for 2 * maxconn + 17 with one frontend and
 * one server (2.6: "Cannot raise FD limit to 200017" for maxconn 100000); 1000 leaves room for a
 * large config.
 */
const FD_RESERVE = 1000;

/**
 * Global `ulimit-n` and `maxconn` brought within the open-file limit the proxy starts with. On a
 * real host a service manager raises the limit (systemd LimitNOFILE=); here lbdrill already raised
 * it as far as the machine allows, so what still does not fit is mapped down in place, or HAProxy
 * refuses to start ("Cannot raise FD limit").
 */
function fitFdLimit(s: Scan, fdLimit: number, edits: TextEdit[], mapped: Mapping[]): void {
  const globals = s.lines.filter(({ section, line }) => section.kind === 'global' && line.words[1] !== undefined && /^\d+$/.test((line.words[1] as Word).value));
  const setting = (keyword: string): Line[] => globals.filter(({ line }) => line.words[0]?.value === keyword).map(({ line }) => line);
  const lower = (line: Line, to: number, why: string): void => {
    const word = line.words[1] as Word;
    edits.push({ start: word.start, end: word.end, text: String(to) });
    mapped.push({ kind: 'limit', from: `${(line.words[0] as Word).value} ${word.value}`, to: `${(line.words[0] as Word).value} ${to} (${why})`, ...at(line) });
  };
  let limit = fdLimit;
  for (const line of setting('ulimit-n')) {
    const value = Number((line.words[1] as Word).value);
    if (value > fdLimit) lower(line, fdLimit, `this machine allows lbdrill's children ${fdLimit} open files`);
    else limit = Math.min(limit, value);
  }
  const most = Math.floor((limit - FD_RESERVE) / 2);
  for (const line of setting('maxconn')) {
    if (Number((line.words[1] as Word).value) <= most) continue;
    lower(line, most, `2 files per connection + ${FD_RESERVE} must fit the ${limit} open files HAProxy may have here`);
  }
}

/** Every health-check and slow-start duration on server lines and every `timeout check`, multiplied by the time scale. */
function scaleDurations(s: Scan, scale: number, edits: TextEdit[], mapped: Mapping[]): void {
  const scaled = (text: string): string | null => {
    const ms = haproxyTimeMs(text);
    return ms === null ? null : formatMs(scaleMs(ms, scale, 1));
  };
  for (const { line, section } of s.lines) {
    if (section.kind !== 'defaults' && section.kind !== 'backend' && section.kind !== 'listen') continue;
    const words = line.words;
    const keyword = (words[0] as Word).value;
    if (keyword === 'timeout' && words[1]?.value === 'check' && words[2] !== undefined) {
      const to = scaled(words[2].value);
      if (to === null || to === words[2].value) continue;
      edits.push({ start: words[2].start, end: words[2].end, text: to });
      mapped.push({ kind: 'timing', from: `timeout check ${words[2].value}`, to: `timeout check ${to}`, ...at(line) });
      continue;
    }
    if (keyword !== 'server' && keyword !== 'server-template' && keyword !== 'default-server') continue;
    for (const { key, value } of readParams(words, paramsFrom(keyword))) {
      if (value === null || !SCALED_SERVER_KEYWORDS.has(key.value)) continue;
      const to = scaled(value.value);
      if (to === null || to === value.value) continue;
      edits.push({ start: value.start, end: value.end, text: to });
      mapped.push({ kind: 'timing', from: `${key.value} ${value.value}`, to: `${key.value} ${to}`, ...at(line) });
    }
  }
  // A checked server with no inter anywhere runs on the built-in 2 s, which must shrink too.
  const inter = formatMs(scaleMs(DEFAULT_INTER_MS, scale, 1));
  for (const pool of healthPools(s)) {
    for (const { line, settings } of pool.servers) {
      if (!settings.has('check') || settings.has('inter')) continue;
      edits.push({ start: line.end, end: line.end, text: ` inter ${inter}` });
      mapped.push({ kind: 'timing', from: `inter ${formatMs(DEFAULT_INTER_MS)} (default)`, to: `inter ${inter}`, ...at(line) });
    }
  }
}

/** The global `stats socket` to become the runtime API: the first on a unix path, else the first. */
function runtimeSocketLine(s: Scan): Line | undefined {
  const sockets = s.lines.filter(({ line, section }) => section.kind === 'global' && line.words[0]?.value === 'stats' && line.words[1]?.value === 'socket' && line.words[2] !== undefined);
  const unix = sockets.find(({ line }) => /^(\/|unix@)/.test((line.words[2] as Word).value));
  return (unix ?? sockets[0])?.line;
}

/** Points a `stats socket` line at the runtime socket, with `level admin` so the run may change server states. */
function pointRuntimeSocket(line: Line, socket: string, edits: TextEdit[], mapped: Mapping[]): void {
  const words = line.words;
  const path = words[2] as Word;
  edits.push({ start: path.start, end: path.end, text: requote(path, socket) });
  const to = words.map((w) => w.value);
  to[2] = socket;
  const level = words.findIndex((w, i) => i > 2 && w.value === 'level');
  const levelValue = level > 0 ? words[level + 1] : undefined;
  if (levelValue === undefined) {
    edits.push({ start: line.end, end: line.end, text: level > 0 ? ' admin' : ' level admin' });
    to.push(...(level > 0 ? ['admin'] : ['level', 'admin']));
  } else if (levelValue.value !== 'admin') {
    edits.push({ start: levelValue.start, end: levelValue.end, text: 'admin' });
    to[level + 1] = 'admin';
  }
  mapped.push({ kind: 'runtime-api', from: words.map((w) => w.value).join(' '), to: to.join(' '), ...at(line) });
}

/** HAProxy: `server`/`bind` in backend, frontend and listen sections, mapped onto loopback. */
export const haproxyDialect: ConfigDialect = { analyze, render };
