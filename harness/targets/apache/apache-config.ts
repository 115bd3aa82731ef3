/**
 * The Apache httpd dialect: reads a user's vhost file (or a conf with its own Listen),
 * maps balancer members, ProxyPass addresses, listeners, certificates and log paths
 * onto the run's plan in place, and wraps it in a generated main config modelled on
 * Debian's apache2.conf.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { LbdrillError } from '../../errors.ts';
import type { ClientLimit, ClientLimits, CompanionFile, ConfigAnalysis, ConfigDialect, ConfigStatement, ListenerRef, Mapping, PoolHealth, RenderPlan, RenderedConfig, UpstreamRef } from '../config-plan.ts';
import {
  LOOPBACK,
  RunDirNames,
  SCHEME_PORTS,
  activeTimeScale,
  commentOutEdits,
  copyCompanion,
  formatMs,
  hostPort,
  parseError,
  notAFile,
  planned,
  readCompanions,
  requote,
  scaleMs,
  splitWords,
  urlAuthority,
  type CompanionRef,
  type TextEdit,
  type Word,
} from '../config-text.ts';
import { statusRange } from '../status-range.ts';
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

const SITE_FILE = 'site.conf';
const MAIN_FILE = 'apache2.conf';
const SERVER_ROOT = '/etc/apache2';
const MODULE_DIR = '/usr/lib/apache2/modules';
const MODULE_CONF_DIR = '/etc/apache2/mods-available';
/** Debian's mime types, for a TypesConfig relative to a ServerRoot this machine does not have. */
const DEBIAN_MIME_TYPES = '/etc/mime.types';
const RUN_USER = 'www-data';

/**
 * Modules the generated main config loads, in load order: the proxy/TLS set plus the
 * harmless part of what Debian enables by default (access_compat, filter, negotiation,
 * autoindex), since published vhosts are written against it. Not deflate: it would
 * re-encode proxied bodies behind the checks' backs. Event MPM: streams without a thread per idle connection.
 */
const MODULES = [
  'mpm_event',
  'authz_core',
  'authz_host',
  'authn_core',
  'authn_file',
  'auth_basic',
  'authz_user',
  'access_compat',
  'alias',
  'dir',
  'mime',
  'headers',
  'rewrite',
  'setenvif',
  'env',
  'remoteip',
  'filter',
  'negotiation',
  'autoindex',
  'socache_shmcb',
  'ssl',
  'proxy',
  'proxy_http',
  'proxy_wstunnel',
  'slotmem_shm',
  'proxy_balancer',
  'lbmethod_byrequests',
  'lbmethod_bybusyness',
  'status',
  'reqtimeout',
  'watchdog',
  'proxy_hcheck',
] as const;

/** Debian's envvars, pointed at the run directory; defined rather than edited in the user's text. */
function debianVariables(runDir: string): Record<string, string> {
  return {
    APACHE_RUN_USER: RUN_USER,
    APACHE_RUN_GROUP: RUN_USER,
    APACHE_PID_FILE: `${runDir}/apache2.pid`,
    APACHE_RUN_DIR: runDir,
    APACHE_LOCK_DIR: runDir,
    APACHE_LOG_DIR: runDir,
  };
}

const CERT_FILE = new Set([
  'sslcertificatechainfile',
  'sslcacertificatefile',
  'sslcadnrequestfile',
  'sslproxycacertificatefile',
  'sslproxymachinecertificatechainfile',
]);
/** Directives naming TLS material lbdrill has no equivalent for; commented out in place. */
const DROP = new Set([
  'sslcacertificatepath',
  'sslcarevocationfile',
  'sslcarevocationpath',
  'sslcarevocationcheck',
  'sslcadnrequestpath',
  'sslproxycacertificatepath',
  'sslproxycarevocationfile',
  'sslproxycarevocationpath',
  'sslproxycarevocationcheck',
  'sslproxymachinecertificatepath',
]);
const LOG_FILE = new Set(['errorlog', 'customlog', 'transferlog', 'globallog', 'forensiclog']);
const RUN_FILE = new Set(['pidfile', 'scriptsock', 'scoreboardfile']);
const RUN_DIR = new Set(['coredumpdirectory', 'defaultruntimedir']);

interface Directive {
  /** lower-cased name; sections as "<virtualhost" and "</virtualhost". */
  name: string;
  words: Word[];
  line: number;
  start: number;
  end: number;
  /** the included file the directive is in; undefined in the source file. */
  file?: string;
}

/** Where a directive is, for refs and mappings: its line, and its file when it is an included one. */
function at(d: Directive): { line: number; file?: string } {
  return d.file === undefined ? { line: d.line } : { line: d.line, file: d.file };
}

interface Block {
  name: string;
  open: Directive;
  parent: Block | null;
}

/** Reads logical lines (with `\` continuations) into directives, checking section nesting. */
interface Entry {
  directive: Directive;
  /** the section the directive sits in. */
  block: Block | null;
  /** the section a `<Tag>` line opens. */
  opens: Block | null;
}

/**
 * `file`: the tree file read (its offsets are placed at file.base); `parent`: the section an
 * Include of it sits in, which its directives belong to; `included`: it is not the source file.
 */
function readDirectives(file: TreeFile, parent: Block | null, included: boolean): Entry[] {
  const { content: source, path, index, base } = file;
  const out: Entry[] = [];
  let block: Block | null = parent;
  for (let n = 1; n <= index.lineCount; n++) {
    const first = n;
    const start = index.lineStart(n);
    let end = index.lineEnd(n);
    // Continuation: a backslash as the very last character joins the next line.
    while (source[end - 1] === '\\' && n < index.lineCount) end = index.lineEnd(++n);
    const text = source.slice(start, end).replace(/\\(\r?\n)/g, (m) => ' '.repeat(m.length));
    const trimmed = text.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    let body = text;
    if (trimmed.startsWith('<')) {
      const gt = text.lastIndexOf('>');
      if (gt < 0 || text.slice(gt + 1).trim() !== '') throw parseError(path, first, `${trimmed.split(/\s/)[0]} directive missing closing '>'`);
      body = text.slice(0, gt);
    }
    const split = splitWords(body, base + start, { comments: 'none', midWordQuotes: false });
    if (split.unterminated) throw parseError(path, first, 'unterminated quoted string');
    const head = split.words[0] as Word;
    const directive: Directive = {
      name: head.value.toLowerCase(),
      words: split.words,
      line: first,
      start: head.start,
      end: base + start + text.indexOf(trimmed) + trimmed.length,
      ...(included ? { file: path } : {}),
    };
    if (directive.name.startsWith('</')) {
      const name = directive.name.slice(2);
      if (block === null || block === parent || block.name !== name) throw parseError(path, first, `</${head.value.slice(2)}> without matching <${head.value.slice(2)}> section`);
      out.push({ directive, block, opens: null });
      block = block.parent;
      continue;
    }
    const opens: Block | null = directive.name.startsWith('<') ? { name: directive.name.slice(1), open: directive, parent: block } : null;
    out.push({ directive, block, opens });
    if (opens !== null) block = opens;
  }
  if (block !== parent && block !== null) throw parseError(path, block.open.line, `<${block.open.words[0]?.value.slice(1)}> was not closed`);
  return out;
}

/** How deep Includes may nest (Apache's own limit, AP_MAX_INCLUDE_DEPTH). */
const MAX_INCLUDE_DEPTH = 128;

/** An `Include`/`IncludeOptional` with the files it named. */
interface IncludeSite {
  directive: Directive;
  word: Word;
  ref: IncludeRef;
  members: CompanionFile[];
}

/** Sections whose contents Apache may skip: an Include in them that names nothing is not an error. */
const CONDITIONAL = new Set(['ifmodule', 'ifdefine', 'ifversion', 'ifdirective', 'iffile', 'ifsection']);

/**
 * Where relative paths resolve: ServerRoot as the config writes it (before any Include; Debian's
 * /etc/apache2 when it says none), which the tree stands for: the directory of the file passed, or
 * its parent when that directory is `conf/` (httpd's own layout, ServerRoot/conf/httpd.conf).
 */
function includeRules(sourcePath: string, file: TreeFile): IncludeRules {
  const written = readDirectives(file, null, false).find((e) => e.directive.name === 'serverroot')?.directive.words[1]?.value;
  const here = dirname(sourcePath);
  return { root: basename(here) === 'conf' ? dirname(here) : here, prefix: written ?? SERVER_ROOT, directories: true };
}

/**
 * Reads the source and every file it includes, in Apache's reading order: each included file's
 * directives follow the Include that names it, inside the section the Include sits in.
 */
function readTree(source: string, sourcePath: string, readerFor: (rules: IncludeRules) => IncludeReader): { tree: ConfigTree; rules: IncludeRules; entries: Entry[]; includes: IncludeSite[] } {
  const tree = new ConfigTree();
  const main = tree.add(sourcePath, source).file;
  const rules = includeRules(sourcePath, main);
  const reader = readerFor(rules);
  const includes: IncludeSite[] = [];
  const loading: string[] = [];
  const load = (file: TreeFile, parent: Block | null, included: boolean): Entry[] => {
    loading.push(file.path);
    const out: Entry[] = [];
    for (const entry of readDirectives(file, parent, included)) {
      out.push(entry);
      const d = entry.directive;
      const word = d.words[1];
      if ((d.name !== 'include' && d.name !== 'includeoptional') || word === undefined || /[$%]\{/.test(word.value)) continue;
      let conditional = false;
      for (let b = entry.block; b !== null; b = b.parent) if (CONDITIONAL.has(b.name)) conditional = true;
      const ref: IncludeRef = { path: word.value, file: d.file ?? sourcePath, line: d.line, optional: d.name === 'includeoptional' || conditional };
      const members = reader(ref);
      if (members.some((m) => loading.includes(m.foundAt)) || loading.length >= MAX_INCLUDE_DEPTH) {
        throw parseError(ref.file, d.line, `${d.words[0]?.value} ${ref.path} includes itself (directly or through other files)`);
      }
      includes.push({ directive: d, word, ref, members });
      for (const m of members) out.push(...load(tree.add(m.foundAt, m.content).file, entry.block, true));
    }
    loading.pop();
    return out;
  };
  return { tree, rules, entries: load(main, null, false), includes };
}

function enclosing(block: Block | null, name: string): Block | null {
  for (let b = block; b !== null; b = b.parent) if (b.name === name) return b;
  return null;
}

interface Address {
  port: number;
  v6: boolean;
}

/** "80", "*:443", "[::]:80", "_default_:443", "*" (any port: taken as 80). */
function readAddress(spec: string, path: string, line: number): Address {
  const v6 = /^\[[^\]]*\](?::(\d+|\*))?$/.exec(spec);
  if (v6 !== null) return { port: v6[1] === undefined || v6[1] === '*' ? 80 : Number(v6[1]), v6: true };
  if (/^\d+$/.test(spec)) return { port: Number(spec), v6: false };
  const hp = /^([^:]+)(?::(\d+|\*))?$/.exec(spec);
  if (hp === null) throw parseError(path, line, `cannot read address "${spec}"`);
  return { port: hp[2] === undefined || hp[2] === '*' ? 80 : Number(hp[2]), v6: false };
}

/** Schemes a test backend can stand in for; fcgi://, ajp:// and the like are left as written. */
const HTTP_SCHEMES = new Set(['http', 'https', 'ws', 'wss', 'h2', 'h2c']);

/** A proxied URL's backend address, unless it is a balancer, a unix socket, not HTTP, or has a variable host. */
function literalTarget(word: Word): { address: string; start: number; end: number; tls: boolean } | null {
  if (word.value.includes('|')) return null;
  const url = urlAuthority(word.value);
  if (url === null || !HTTP_SCHEMES.has(url.scheme) || url.host === '' || /[$%]/.test(url.host)) return null;
  const offset = word.start + (word.quote === '' ? 0 : 1);
  return { address: hostPort(url.host, url.port ?? SCHEME_PORTS[url.scheme] ?? 80), start: offset + url.start, end: offset + url.end, tls: TLS_SCHEMES.has(url.scheme) };
}

/** Schemes Apache speaks TLS with to the backend. */
const TLS_SCHEMES = new Set(['https', 'wss', 'h2']);

/** `status=+H` (hot standby) marks a backup member; `-H` clears it. */
function isHotStandby(params: Word[]): boolean {
  let backup = false;
  for (const p of params) {
    const m = /^status=(.*)$/i.exec(p.value);
    if (m === null) continue;
    let set = true;
    for (const c of m[1] as string) {
      if (c === '+') set = true;
      else if (c === '-') set = false;
      else if (c.toUpperCase() === 'H') backup = set;
    }
  }
  return backup;
}

interface VirtualHost {
  open: Directive;
  addresses: Array<{ word: Word; address: Address }>;
  tls: boolean;
  serverNames: string[];
  hasKeyFile: boolean;
}

interface Scan {
  /** the source and every file it includes; `tree.index` holds the lines of the joined text all offsets point into. */
  tree: ConfigTree;
  rules: IncludeRules;
  includes: IncludeSite[];
  directives: Entry[];
  upstreams: Array<{ ref: UpstreamRef; start: number; end: number }>;
  /** further occurrences of a literal address (ProxyPassReverse, repeated ProxyPass): rewritten when mapped. */
  extra: Array<{ address: string; start: number; end: number; directive: Directive }>;
  vhosts: VirtualHost[];
  listens: Array<{ directive: Directive; address: Address; dropped: boolean }>;
  mainTls: boolean;
  mainNames: string[];
  mainHasKeyFile: boolean;
  loadedModules: Set<string>;
  /** each ${VAR} and the first directive naming it. */
  variables: Map<string, Directive>;
  /** balancer members in order, with the path of their URL and their key=value parameters. */
  members: Array<{ directive: Directive; pool: string; path: string; params: Word[] }>;
  /** ProxyHCTemplate name (lower case) -> its parameters. */
  hcTemplates: Map<string, { directive: Directive; params: Word[] }>;
  /** balancer name -> parameters set on it (ProxySet, ProxyPass to balancer://name), keys in lower case, with the directive setting each. */
  balancerParams: Map<string, Map<string, { value: string; directive: Directive }>>;
  /** directives whose key=value parameters may hold worker durations (retry=, hcinterval=). */
  timed: Array<{ directive: Directive; params: Word[] }>;
}

function hostName(value: string): string {
  const url = urlAuthority(value);
  const host = url !== null ? url.host : value.replace(/:\d+$/, '');
  return host.toLowerCase();
}

function scan(source: string, path: string, readerFor: (rules: IncludeRules) => IncludeReader): Scan {
  const { tree, rules, entries: directives, includes } = readTree(source, path, readerFor);
  const text = tree.text;
  const s: Scan = {
    tree,
    rules,
    includes,
    directives,
    upstreams: [],
    extra: [],
    vhosts: [],
    listens: [],
    mainTls: false,
    mainNames: [],
    mainHasKeyFile: false,
    loadedModules: new Set(),
    variables: new Map(),
    members: [],
    hcTemplates: new Map(),
    balancerParams: new Map(),
    timed: [],
  };
  const setBalancerParams = (name: string, params: Word[], directive: Directive): void => {
    const pool = name.replace(/^balancer:\/\//i, '').replace(/\/.*$/, '');
    const map = s.balancerParams.get(pool) ?? new Map<string, { value: string; directive: Directive }>();
    for (const [key, value] of keyValues(params)) map.set(key, { value, directive });
    s.balancerParams.set(pool, map);
  };
  const vhostOf = new Map<Block, VirtualHost>();
  /** A literal backend URL is one upstream, its pool named by the address; later uses of it are only rewritten. */
  const addLiteral = (word: Word, directive: Directive): void => {
    const target = literalTarget(word);
    if (target === null) return;
    if (s.upstreams.some((u) => u.ref.address === target.address && u.ref.pool === target.address)) {
      s.extra.push({ ...target, directive });
      return;
    }
    s.upstreams.push({ ref: { pool: target.address, name: target.address, address: target.address, ...at(directive), backup: false, ...(target.tls ? { tls: true as const } : {}) }, start: target.start, end: target.end });
  };
  for (const { directive: d, block, opens } of directives) {
    const where = d.file ?? path;
    for (const m of text.slice(d.start, d.end).matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
      if (!s.variables.has(m[1] as string)) s.variables.set(m[1] as string, d);
    }
    const args = d.words.slice(1);
    const vhostBlock = enclosing(block, 'virtualhost');
    const vhost = vhostBlock === null ? null : vhostOf.get(vhostBlock) ?? null;
    switch (d.name) {
      case '<virtualhost': {
        if (skippedByIfModule(block, s.loadedModules)) break;
        const v: VirtualHost = {
          open: d,
          addresses: args.map((word) => ({ word, address: readAddress(word.value, where, d.line) })),
          tls: false,
          serverNames: [],
          hasKeyFile: false,
        };
        s.vhosts.push(v);
        if (opens !== null) vhostOf.set(opens, v);
        break;
      }
      case 'listen': {
        const spec = args[0];
        if (spec === undefined) throw parseError(where, d.line, 'Listen requires at least one argument');
        if (skippedByIfModule(block, s.loadedModules)) break;
        s.listens.push({ directive: d, address: readAddress(spec.value, where, d.line), dropped: false });
        break;
      }
      case 'servername':
      case 'serveralias': {
        const names = vhost?.serverNames ?? s.mainNames;
        for (const a of args) {
          const name = hostName(a.value);
          if (name.includes('*') || name.includes('?') || name.includes('$') || names.includes(name)) continue;
          names.push(name);
        }
        break;
      }
      case 'sslengine':
        if (args[0]?.value.toLowerCase() === 'on') {
          if (vhost !== null) vhost.tls = true;
          else s.mainTls = true;
        }
        break;
      case 'sslcertificatekeyfile':
        if (vhost !== null) vhost.hasKeyFile = true;
        else s.mainHasKeyFile = true;
        break;
      case 'loadmodule':
        if (args[0] !== undefined) s.loadedModules.add(args[0].value);
        break;
      case 'balancermember': {
        const proxy = enclosing(block, 'proxy');
        const explicit = args[0]?.value.toLowerCase().startsWith('balancer://') === true;
        const pool = (explicit ? (args[0] as Word).value : proxy?.open.words[1]?.value ?? '').replace(/^balancer:\/\//i, '').replace(/\/+$/, '');
        const urlWord = explicit ? args[1] : args[0];
        if (urlWord === undefined) throw parseError(where, d.line, 'BalancerMember requires a URL');
        const params = args.slice(explicit ? 2 : 1);
        s.members.push({ directive: d, pool, path: urlPath(urlWord.value), params });
        s.timed.push({ directive: d, params });
        const target = literalTarget(urlWord);
        if (target === null) break;
        const own = new Map(keyValues(params));
        const loadfactor = own.get('loadfactor');
        const route = own.get('route');
        s.upstreams.push({
          ref: {
            pool,
            name: target.address,
            address: target.address,
            ...at(d),
            backup: isHotStandby(params),
            ...(loadfactor !== undefined && /^\d+$/.test(loadfactor) ? { weight: Number(loadfactor) } : {}),
            ...(route !== undefined && route !== '' ? { cookieValue: route } : {}),
            ...(target.tls ? { tls: true as const } : {}),
          },
          start: target.start,
          end: target.end,
        });
        break;
      }
      case 'proxypass':
      case 'proxypassmatch': {
        const inLocation = enclosing(block, 'location') ?? enclosing(block, 'locationmatch');
        const urlWord = inLocation !== null && args[0] !== undefined && urlAuthority(args[0].value) !== null ? args[0] : args[1];
        if (urlWord === undefined) break;
        const params = args.slice(args.indexOf(urlWord) + 1);
        s.timed.push({ directive: d, params });
        if (/^balancer:\/\//i.test(urlWord.value)) setBalancerParams(urlWord.value, params, d);
        addLiteral(urlWord, d);
        break;
      }
      case 'proxyset': {
        // ProxySet [url] key=value...: without a URL it sets the enclosing <Proxy>.
        const url = args[0] !== undefined && !args[0].value.includes('=') ? args[0].value : enclosing(block, 'proxy')?.open.words[1]?.value;
        const params = args.filter((a) => a.value.includes('='));
        s.timed.push({ directive: d, params });
        if (url !== undefined && /^balancer:\/\//i.test(url)) setBalancerParams(url, params, d);
        break;
      }
      case 'proxyhctemplate': {
        const name = args[0]?.value.toLowerCase();
        if (name === undefined) break;
        s.hcTemplates.set(name, { directive: d, params: args.slice(1) });
        s.timed.push({ directive: d, params: args.slice(1) });
        break;
      }
      case 'rewriterule': {
        const flags = args[2]?.value ?? '';
        if (args[1] === undefined || !/^\[(.*,)?\s*(P|proxy)\s*(,.*)?\]$/i.test(flags)) break;
        addLiteral(args[1], d);
        break;
      }
      case 'proxypassreverse': {
        for (const a of args) {
          const target = literalTarget(a);
          if (target !== null) s.extra.push({ ...target, directive: d });
        }
        break;
      }
      default:
        break;
    }
  }
  // Listen on [::]:P is the same socket as Listen P once both are 127.0.0.1: drop the IPv6 one.
  const v4 = new Set(s.listens.filter((l) => !l.address.v6).map((l) => l.address.port));
  for (const l of s.listens) l.dropped = l.address.v6 && v4.has(l.address.port);
  return s;
}

// ---- health and failover settings ----

/** The key=value parameters of a directive, keys in lower case, in order. */
function keyValues(params: Word[]): Array<[string, string]> {
  return params.flatMap((p) => {
    const eq = p.value.indexOf('=');
    return eq > 0 ? [[p.value.slice(0, eq).toLowerCase(), p.value.slice(eq + 1)] as [string, string]] : [];
  });
}

/** The path of a worker URL ("http://10.0.0.1:8080/app" -> "/app"), '' when it has none. */
function urlPath(url: string): string {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*(\/[^?#]*)?/.exec(url);
  return (m?.[1] ?? '').replace(/\/+$/, '');
}

/**
 * An Apache timeout (ap_timeout_parameter_parse, used for hcinterval=): digits with an
 * optional ms, s, mi or h; bare digits are seconds. Null when Apache would refuse it.
 */
export function apacheTimeoutMs(text: string): number | null {
  const m = /^(\d+)(ms|s|mi|h)?$/i.exec(text);
  if (m === null) return null;
  const unit = (m[2] ?? 's').toLowerCase();
  return Number(m[1]) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'mi' ? 60_000 : 3_600_000);
}

/**
 * retry= as Apache reads it: atoi(), whole seconds. "retry=500ms" is 500 s on Apache 2.4
 * (checked on 2.4.68: the worker stayed in error state), so only the leading digits count.
 */
function retrySeconds(text: string): number | null {
  const m = /^\d+/.exec(text);
  return m === null ? null : Number(m[0]);
}

/** mod_proxy and mod_proxy_hcheck defaults: retry 60 s; hcinterval 30 s, hcfails 1, hcpasses 1. */
const DEFAULT_RETRY_S = 60;
const DEFAULT_HC_INTERVAL_MS = 30_000;
const DEFAULT_HC_FAILS = 1;
const DEFAULT_HC_PASSES = 1;
/** mod_proxy_hcheck refuses an hcinterval below its watchdog tick ("must be ... greater than 100ms"). */
const MIN_HC_INTERVAL_MS = 100;

/** A member's health-check settings: its hctemplate's, then its own, in the order written. */
function memberCheck(s: Scan, params: Word[]): Map<string, string> {
  const settings = new Map<string, string>();
  for (const [key, value] of keyValues(params)) {
    if (key === 'hctemplate') {
      for (const [k, v] of keyValues(s.hcTemplates.get(value.toLowerCase())?.params ?? [])) settings.set(k, v);
    } else if (key.startsWith('hc') || key === 'retry') {
      settings.set(key, value);
    }
  }
  return settings;
}

function checkPath(base: string, hcuri: string | undefined): string {
  if (hcuri === undefined || hcuri === '') return base === '' ? '/' : base;
  return `${base}${hcuri.startsWith('/') ? '' : '/'}${hcuri}`;
}

/** A directive as a ConfigStatement. */
function statement(source: string, d: Directive): ConfigStatement {
  return { text: source.slice(d.start, d.end), ...at(d) };
}

/** The <VirtualHost> a directive sits in (its opening line), or null in the server config. */
type Scope = Directive | null;

/** The last directive of each name per scope, lower-case names; a vhost without its own inherits the server config's. */
class ScopedDirectives {
  readonly #byScope = new Map<Scope, Map<string, Directive>>();

  constructor(s: Scan, names: readonly string[]) {
    for (const { directive, block } of s.directives) {
      if (!names.includes(directive.name)) continue;
      const scope = enclosing(block, 'virtualhost')?.open ?? null;
      const map = this.#byScope.get(scope) ?? new Map<string, Directive>();
      map.set(directive.name, directive);
      this.#byScope.set(scope, map);
    }
  }

  get(scope: Scope, name: string): Directive | undefined {
    return this.#byScope.get(scope)?.get(name) ?? this.#byScope.get(null)?.get(name);
  }
}

// ---- client limits ----

const LIMIT_DIRECTIVES = ['requestreadtimeout', 'limitrequestfieldsize'];
/** mod_reqtimeout's defaults (header=20-40,MinRate=500 body=20,MinRate=500) and core's LimitRequestFieldSize 8190. */
const DEFAULT_HEADER_TIMEOUT_MS = 20_000;
const DEFAULT_BODY_TIMEOUT_MS = 20_000;
const DEFAULT_FIELD_BYTES = 8190;

/**
 * A vhost's client limits (its own directive, else the server config's, else the default). For a
 * timeout written `20-40,MinRate=500` the first number is the limit: a client sending under
 * MinRate (a byte at a time, a stalled body) is cut then. 0 turns that timeout off.
 */
function clientLimits(text: string, scoped: ScopedDirectives, scope: Scope): ClientLimits {
  const rrt = scoped.get(scope, 'requestreadtimeout');
  const timeout = (stage: 'header' | 'body', fallbackMs: number): ClientLimit => {
    const word = rrt?.words.slice(1).find((w) => w.value.toLowerCase().startsWith(`${stage}=`));
    const seconds = word === undefined ? null : /^[a-z]+=(\d+)/i.exec(word.value)?.[1];
    if (rrt === undefined || word === undefined || seconds == null) return { value: fallbackMs, source: `mod_reqtimeout default: ${stage}=${fallbackMs / 1000}${stage === 'header' ? '-40' : ''},MinRate=500` };
    return { value: Number(seconds) === 0 ? null : Number(seconds) * 1000, at: statement(text, rrt), source: `RequestReadTimeout ${word.value}` };
  };
  const field = scoped.get(scope, 'limitrequestfieldsize');
  const bytes = field?.words[1]?.value;
  const headerBytes: ClientLimits['headerBytes'] =
    field === undefined || bytes === undefined || !/^\d+$/.test(bytes)
      ? { value: DEFAULT_FIELD_BYTES, scope: 'field', source: `Apache default: LimitRequestFieldSize ${DEFAULT_FIELD_BYTES}` }
      : { value: Number(bytes), scope: 'field', at: statement(text, field), source: `LimitRequestFieldSize ${bytes}` };
  return { headerTimeoutMs: timeout('header', DEFAULT_HEADER_TIMEOUT_MS), bodyTimeoutMs: timeout('body', DEFAULT_BODY_TIMEOUT_MS), headerBytes };
}

/** Each directive's scope: the <VirtualHost> it sits in. */
function scopes(s: Scan): Map<Directive, Scope> {
  return new Map(s.directives.map(({ directive, block }) => [directive, enclosing(block, 'virtualhost')?.open ?? null]));
}

/**
 * The statuses an `ProxyHCExpr` expression accepts, when it only tests %{REQUEST_STATUS}:
 * `%{REQUEST_STATUS} =~ /^[234]/`, or comparisons (`-lt 400`, `< 400`, ...) joined by one of && or ||.
 */
function hcExprStatus(expression: string): { min: number; max: number } | null {
  const body = expression.trim().replace(/^\{([\s\S]*)\}$/, '$1').trim();
  const joiner = body.includes('&&') ? '&&' : '||';
  if (body.includes('&&') && body.includes('||')) return null;
  const tests = body.split(joiner).map((part) => statusTest(part.trim()));
  if (tests.some((t) => t === null)) return null;
  const all = tests as Array<(code: number) => boolean>;
  return statusRange((code) => (joiner === '&&' ? all.every((t) => t(code)) : all.some((t) => t(code))));
}

const COMPARE: Readonly<Record<string, (a: number, b: number) => boolean>> = {
  '-lt': (a, b) => a < b, '<': (a, b) => a < b, '-le': (a, b) => a <= b, '<=': (a, b) => a <= b,
  '-gt': (a, b) => a > b, '>': (a, b) => a > b, '-ge': (a, b) => a >= b, '>=': (a, b) => a >= b,
  '-eq': (a, b) => a === b, '==': (a, b) => a === b, '-ne': (a, b) => a !== b, '!=': (a, b) => a !== b,
};

/** One ap_expr test of %{REQUEST_STATUS}, or null for anything else. */
function statusTest(text: string): ((code: number) => boolean) | null {
  const inner = text.replace(/^\(([\s\S]*)\)$/, '$1').trim();
  const regex = /^%\{REQUEST_STATUS\}\s*=~\s*\/(.*)\/(i?)$/.exec(inner);
  if (regex !== null) {
    try {
      const re = new RegExp(regex[1] as string, regex[2]);
      return (code) => re.test(String(code));
    } catch {
      return null;
    }
  }
  const cmp = /^%\{REQUEST_STATUS\}\s*(-lt|-le|-gt|-ge|-eq|-ne|<=|>=|==|!=|<|>)\s*'?(\d{3})'?$/.exec(inner);
  if (cmp === null) return null;
  const op = COMPARE[cmp[1] as string] as (a: number, b: number) => boolean;
  const value = Number(cmp[2]);
  return (code) => op(code, value);
}

/** The directive that gives a member a check parameter: the member itself, or its hctemplate. */
function checkSource(s: Scan, member: Scan['members'][number], key: string): Directive {
  let source = member.directive;
  for (const [k, v] of keyValues(member.params)) {
    if (k === key) source = member.directive;
    else if (k === 'hctemplate') {
      const template = s.hcTemplates.get(v.toLowerCase());
      if (template !== undefined && keyValues(template.params).some(([tk]) => tk === key)) source = template.directive;
    }
  }
  return source;
}

/** mod_proxy_hcheck's methods; the "11" variants send HTTP/1.1. */
function hcMethod(value: string): string {
  return value.toUpperCase().replace(/11$/, '');
}

/**
 * The active check of a checked member: hcmethod (TCP: a connect, no path), hcuri, and the
 * statuses its hcexpr accepts; an expression that is not a status test is shown by `at`.
 */
function activeCheck(s: Scan, member: Scan['members'][number], check: Map<string, string>): NonNullable<PoolHealth['active']> {
  const source = s.tree.text;
  const method = hcMethod(check.get('hcmethod') as string);
  const count = (key: string, fallback: number): number => {
    const v = check.get(key);
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : fallback;
  };
  const interval = check.get('hcinterval');
  const exprName = check.get('hcexpr');
  const expr = exprName === undefined ? undefined : s.directives.find((e) => e.directive.name === 'proxyhcexpr' && e.directive.words[1]?.value === exprName)?.directive;
  const exprText = expr === undefined || expr.words[2] === undefined ? undefined : source.slice(expr.words[2].start, expr.end);
  const expectStatus = exprText === undefined ? null : hcExprStatus(exprText);
  const at = expr !== undefined && expectStatus === null ? expr : checkSource(s, member, 'hcmethod');
  return {
    ...(method === 'TCP' ? {} : { method, path: checkPath(member.path, check.get('hcuri')) }),
    ...(expectStatus !== null ? { expectStatus } : {}),
    intervalMs: (interval === undefined ? null : apacheTimeoutMs(interval)) ?? DEFAULT_HC_INTERVAL_MS,
    fall: count('hcfails', DEFAULT_HC_FAILS),
    rise: count('hcpasses', DEFAULT_HC_PASSES),
    at: statement(source, at),
  };
}

/**
 * `stickysession=NAME` (or `NAME|urlparam`) on the balancer. Apache only routes by a cookie
 * the application sets, unless the config sets it itself: `Header add Set-Cookie "NAME=..."`
 * (the `env=BALANCER_ROUTE_CHANGED` recipe), which makes it an inserted cookie. Apache cannot
 * keep it from the backend.
 */
function stickyCookie(s: Scan, pool: string): PoolHealth['cookie'] {
  const sticky = s.balancerParams.get(pool)?.get('stickysession');
  const name = sticky?.value.split('|')[0] ?? '';
  if (sticky === undefined || name === '') return undefined;
  const sets = s.directives.some(({ directive: d }) => {
    if (d.name !== 'header') return false;
    const i = d.words.findIndex((w) => w.value.toLowerCase() === 'set-cookie');
    return i > 0 && d.words[i + 1]?.value.startsWith(`${name}=`) === true;
  });
  return { name, mode: sets ? 'insert' : 'honour', indirect: false, at: statement(s.tree.text, sticky.directive) };
}

/** Apache's Timeout as Debian's apache2.conf sets it (and the main config lbdrill wraps a file in). */
const DEBIAN_TIMEOUT_S = 300;

/**
 * How long an upgraded (WebSocket) connection may idle: mod_proxy tunnels until the larger of
 * the client's Timeout and the member's timeout= (else ProxyTimeout, else Timeout) passes.
 * Undefined when the config writes none of them for the member.
 */
function tunnelTimeoutMs(params: Word[], scoped: ScopedDirectives, scope: Scope): number | undefined {
  const seconds = (d: Directive | undefined): number | undefined => {
    const v = d?.words[1]?.value;
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
  };
  const own = new Map(keyValues(params)).get('timeout');
  const worker = own !== undefined && /^\d+$/.test(own) ? Number(own) : seconds(scoped.get(scope, 'proxytimeout'));
  const timeout = seconds(scoped.get(scope, 'timeout'));
  if (worker === undefined && timeout === undefined) return undefined;
  const client = timeout ?? DEBIAN_TIMEOUT_S;
  return Math.max(client, worker ?? client) * 1000;
}

/**
 * One entry per balancer. A member that fails a request is in error state for retry= seconds
 * (one failure is enough: passive, maxFails 1), and the balancer fails a request over to
 * another member unless nofailover=On; mod_proxy_hcheck adds active checks (hcmethod=).
 */
function healthPools(s: Scan): PoolHealth[] {
  const pools = new Map<string, Array<Scan['members'][number]>>();
  for (const m of s.members) pools.set(m.pool, [...(pools.get(m.pool) ?? []), m]);
  const scoped = new ScopedDirectives(s, ['timeout', 'proxytimeout']);
  const scopeOf = scopes(s);
  return [...pools].map(([pool, members]) => {
    const health: PoolHealth = { pool };
    const checked = members.map((m) => ({ m, check: memberCheck(s, m.params) })).find((x) => (x.check.get('hcmethod') ?? 'NONE').toUpperCase() !== 'NONE');
    if (checked !== undefined) health.active = activeCheck(s, checked.m, checked.check);
    const first = members[0] as Scan['members'][number];
    const retry = memberCheck(s, first.params).get('retry');
    health.passive = { maxFails: 1, failTimeoutMs: ((retry === undefined ? null : retrySeconds(retry)) ?? DEFAULT_RETRY_S) * 1000 };
    if (s.balancerParams.get(pool)?.get('nofailover')?.value.toLowerCase() !== 'on' && members.length > 1) health.redispatch = true;
    const cookie = stickyCookie(s, pool);
    if (cookie !== undefined) health.cookie = cookie;
    // The longest any member gets: a WebSocket pool normally gives every member the same.
    const tunnels = members.flatMap((m) => tunnelTimeoutMs(m.params, scoped, scopeOf.get(m.directive) ?? null) ?? []);
    if (tunnels.length > 0) health.tunnelTimeoutMs = Math.max(...tunnels);
    return health;
  });
}

/**
 * The pools Apache proxies to by address (`ProxyPass /ws/ ws://127.0.0.1:8000/ timeout=3600`, a
 * [P] rewrite): only a tunnel timeout the config writes for them is reported.
 */
function literalPools(s: Scan): PoolHealth[] {
  const scoped = new ScopedDirectives(s, ['timeout', 'proxytimeout']);
  const scopeOf = scopes(s);
  return s.upstreams.flatMap(({ ref }) => {
    if (ref.pool !== ref.address) return [];
    const directive = s.directives.find((e) => e.directive.line === ref.line && e.directive.file === ref.file)?.directive;
    if (directive === undefined) return [];
    // ProxyPass worker parameters follow the URL; a [P] rewrite has none (the default worker's ProxyTimeout applies).
    const params = directive.name.startsWith('proxypass') ? directive.words.filter((w) => w.value.includes('=') && !w.value.includes('://')) : [];
    const tunnel = tunnelTimeoutMs(params, scoped, scopeOf.get(directive) ?? null);
    return tunnel === undefined ? [] : [{ pool: ref.pool, tunnelTimeoutMs: tunnel }];
  });
}

/** hcinterval= and retry= multiplied by the time scale, written or defaulted, in the units Apache accepts for each. */
function scaleWorkerDurations(s: Scan, scale: number, edits: TextEdit[], mapped: Mapping[]): void {
  /** The parameter as written into the config, and what the report says about it. */
  type Scaled = { text: string; note: string; lengthenedMs: number };
  const hcInterval = (ms: number): Scaled => {
    const scaled = scaleMs(ms, scale, 1);
    const clamped = Math.max(MIN_HC_INTERVAL_MS, scaled);
    return { text: `hcinterval=${formatMs(clamped)}`, note: clamped === scaled ? '' : ` (${scaled} ms raised to mod_proxy_hcheck's ${MIN_HC_INTERVAL_MS} ms minimum)`, lengthenedMs: clamped - scaled };
  };
  const retry = (seconds: number): Scaled => {
    const exact = scaleMs(seconds * 1000, scale, 1) / 1000;
    const whole = exact === 0 ? 0 : Math.max(1, Math.ceil(exact));
    return { text: `retry=${whole}`, note: whole === exact ? '' : ` (${exact} s rounded up: Apache reads retry= in whole seconds)`, lengthenedMs: Math.round((whole - exact) * 1000) };
  };
  const timing = (from: string, to: Scaled, directive: Directive): Mapping => ({ kind: 'timing', from, to: to.text + to.note, ...at(directive), ...(to.lengthenedMs > 0 ? { lengthenedMs: to.lengthenedMs } : {}) });
  for (const { directive, params } of s.timed) {
    for (const word of params) {
      const eq = word.value.indexOf('=');
      const key = word.value.slice(0, Math.max(eq, 0)).toLowerCase();
      const value = word.value.slice(eq + 1);
      let to: Scaled | null = null;
      if (key === 'hcinterval') {
        const ms = apacheTimeoutMs(value);
        if (ms !== null) to = hcInterval(ms);
      } else if (key === 'retry') {
        const seconds = retrySeconds(value);
        if (seconds !== null) to = retry(seconds);
      }
      // An unchanged value is still reported when rounding is the reason it did not shrink.
      if (to === null || (to.text.toLowerCase() === word.value.toLowerCase() && to.note === '')) continue;
      edits.push({ start: word.start, end: word.end, text: word.quote === '' ? to.text : requote(word, to.text) });
      mapped.push(timing(word.value, to, directive));
    }
  }
  // What is left at Apache's defaults must shrink too: said on the line that would otherwise inherit it.
  const add = (directive: Directive, from: string, to: Scaled): void => {
    edits.push({ start: directive.end, end: directive.end, text: ` ${to.text}` });
    mapped.push(timing(from, to, directive));
  };
  for (const { directive, params } of s.members) {
    const own = new Map(keyValues(params));
    const check = memberCheck(s, params);
    if (!own.has('retry')) add(directive, `retry=${DEFAULT_RETRY_S} (default)`, retry(DEFAULT_RETRY_S));
    if (!own.has('hctemplate') && !check.has('hcinterval') && (check.get('hcmethod') ?? 'NONE').toUpperCase() !== 'NONE') {
      add(directive, `hcinterval=${DEFAULT_HC_INTERVAL_MS / 1000} (default)`, hcInterval(DEFAULT_HC_INTERVAL_MS));
    }
  }
  for (const { directive, params } of s.hcTemplates.values()) {
    const own = new Map(keyValues(params));
    if (!own.has('hcinterval') && (own.get('hcmethod') ?? 'NONE').toUpperCase() !== 'NONE') {
      add(directive, `hcinterval=${DEFAULT_HC_INTERVAL_MS / 1000} (default)`, hcInterval(DEFAULT_HC_INTERVAL_MS));
    }
  }
}

// ---- companion files ----

/** RewriteMap types whose source is a text file lbdrill can copy (dbm is binary, prg a program, int built in). */
const TEXT_MAP_TYPES = new Set(['txt', 'rnd']);

/** A companion file named by a directive: the word holding it and the prefix before the path inside it ("txt:"). */
interface CompanionWord {
  ref: CompanionRef;
  word: Word;
  prefix: string;
}

function companionWords(s: Scan): CompanionWord[] {
  const found: CompanionWord[] = [];
  const add = (word: Word | undefined, d: Directive, kind: CompanionRef['kind'], prefix = ''): void => {
    if (word === undefined) return;
    const path = word.value.slice(prefix.length);
    if (!notAFile(path)) found.push({ ref: { path, kind, ...at(d) }, word, prefix });
  };
  // Include and IncludeOptional are read as part of the tree (readTree), not copied as they are.
  for (const { directive: d } of s.directives) {
    const arg = d.words[1];
    if (d.name === 'authuserfile') add(arg, d, 'htpasswd');
    else if (d.name === 'authgroupfile') add(arg, d, 'groups');
    else if (d.name === 'rewritemap') {
      const spec = d.words[2];
      const colon = spec?.value.indexOf(':') ?? -1;
      if (spec !== undefined && colon > 0 && TEXT_MAP_TYPES.has(spec.value.slice(0, colon).toLowerCase())) add(spec, d, 'map', spec.value.slice(0, colon + 1));
    }
  }
  return found;
}

/**
 * A LoadModule's file, as Debian ships it: `modules/mod_x.so` (httpd's own layout) is
 * /usr/lib/apache2/modules/mod_x.so; null for a module compiled into Debian's apache2, which
 * LoadModule must not name.
 */
function debianModule(d: Directive): { word: Word; to: string } | null {
  const name = d.words[1]?.value;
  const word = d.words[2];
  if (name === undefined || word === undefined || builtinModules().has(name.replace(/_module$/, ''))) return null;
  return { word, to: word.value.includes('${') ? word.value : `${MODULE_DIR}/${basename(word.value)}` };
}

/** Every LoadModule must name a module Debian's apache2 has: one line naming file:line otherwise. */
function checkModules(s: Scan, sourcePath: string): void {
  for (const { directive: d } of s.directives) {
    if (d.name !== 'loadmodule') continue;
    const module = debianModule(d);
    if (module !== null && !module.to.includes('${') && !existsSync(module.to)) {
      throw new LbdrillError('LBDRILL_ERR_CONFIG_READ', `${d.file ?? sourcePath}:${d.line}: LoadModule ${d.words[1]?.value} ${module.word.value}: Debian's apache2 has no ${basename(module.to)} (looked in ${MODULE_DIR}/)`);
    }
  }
}

function analyze(source: string, sourcePath: string): ConfigAnalysis {
  const s = scan(source, sourcePath, diskIncludes);
  checkModules(s, sourcePath);
  // Relative paths are ServerRoot's (/etc/apache2 in a published Debian config).
  const files = [...s.includes.flatMap((i) => i.members), ...readCompanions(companionWords(s).map((c) => c.ref), sourcePath, [s.rules.root, SERVER_ROOT])];
  const listeners: ListenerRef[] = [];
  const vhostPorts = new Set<number>();
  // SSLProtocol in the vhost, else in the server config; none: OpenSSL's defaults decide.
  const protocols = new ScopedDirectives(s, ['sslprotocol']);
  const tlsProtocols = (tls: boolean, scope: Scope): Pick<ListenerRef, 'tlsProtocols'> => {
    const d = tls ? protocols.get(scope, 'sslprotocol') : undefined;
    return d === undefined ? {} : { tlsProtocols: statement(s.tree.text, d) };
  };
  const limits = new ScopedDirectives(s, LIMIT_DIRECTIVES);
  for (const v of s.vhosts) {
    const seen = new Set<number>();
    for (const { word, address } of v.addresses) {
      vhostPorts.add(address.port);
      if (seen.has(address.port)) continue;
      seen.add(address.port);
      listeners.push({ spec: word.value, port: address.port, tls: v.tls, serverNames: v.serverNames, ...at(v.open), ...tlsProtocols(v.tls, v.open), limits: clientLimits(s.tree.text, limits, v.open) });
    }
  }
  for (const l of s.listens) {
    if (l.dropped || vhostPorts.has(l.address.port)) continue;
    const tls = s.mainTls || l.directive.words[2]?.value.toLowerCase() === 'https';
    listeners.push({ spec: (l.directive.words[1] as Word).value, port: l.address.port, tls, serverNames: s.mainNames, ...at(l.directive), ...tlsProtocols(tls, null), limits: clientLimits(s.tree.text, limits, null) });
  }
  listeners.sort(treeOrder(s.tree));
  return { upstreams: s.upstreams.map((u) => u.ref), listeners, fragment: true, pools: [...healthPools(s), ...literalPools(s)], ...(files.length > 0 ? { files } : {}) };
}

/** An Apache argument, quoted when it holds a space. */
function apArg(value: string): string {
  return /[\s"]/.test(value) ? `"${value.replace(/"/g, '\\"')}"` : value;
}

/** A cache spec like "shmcb:/run/apache2/ssl_scache(512000)" with its path moved into runDir. */
function cacheSpec(value: string, names: RunDirNames): string | null {
  const m = /^(shmcb|dbm|shmht):([^(]+)(\(.*\))?$/i.exec(value);
  if (m === null || (m[2] as string).includes('${')) return null;
  return `${m[1]}:${names.mapBase(m[2] as string, 'cache')}${m[3] ?? ''}`;
}

function render(source: string, sourcePath: string, analysis: ConfigAnalysis, plan: RenderPlan): RenderedConfig {
  const s = scan(source, sourcePath, () => analyzedIncludes(analysis));
  const runDir = plan.runDir.replace(/\/+$/, '');
  const names = new RunDirNames(runDir, [SITE_FILE, MAIN_FILE, 'apache2.pid', 'ssl_scache']);
  const edits: TextEdit[] = [];
  const mapped: Mapping[] = [];
  const files: Record<string, string> = {};
  const replace = (word: Word, value: string, kind: Mapping['kind'], d: Directive, from = word.value): void => {
    edits.push({ start: word.start, end: word.end, text: word.quote === '' ? apArg(value) : requote(word, value) });
    mapped.push({ kind, from, to: value, ...at(d) });
  };
  const drop = (d: Directive): void => {
    // Apache joins continuation lines before it sees a '#', so every physical line is commented.
    edits.push(...commentOutEdits(s.tree.index, d.start, d.end));
    mapped.push({ kind: 'dropped', from: s.tree.text.slice(d.start, d.end), to: '', ...at(d) });
  };
  const port = (p: number): string => `${LOOPBACK}:${planned(plan.ports, p, 'loopback port')}`;

  const scale = activeTimeScale(plan);
  if (scale !== null) scaleWorkerDurations(s, scale, edits, mapped);

  // Every included file is rendered by the same rules and the Include names its rendered copy.
  const copies = new TreeCopies(names, runDir, s.rules);
  for (const site of s.includes) {
    if (site.members.length === 0) continue;
    const to = copies.pattern(site.ref, site.members);
    edits.push({ start: site.word.start, end: site.word.end, text: site.word.quote === '' ? apArg(to) : requote(site.word, to) });
    mapped.push({ kind: 'path', from: site.ref.path, to, ...at(site.directive), companion: 'include' });
  }
  const companions = companionWords(s);
  const hasCopies = companions.length > 0 || s.includes.some((site) => site.members.length > 0);
  for (const { ref, word, prefix } of companions) {
    const to = prefix + copyCompanion(analysis, ref, names, runDir, files, mapped);
    edits.push({ start: word.start, end: word.end, text: word.quote === '' ? apArg(to) : requote(word, to) });
  }

  for (const u of s.upstreams) {
    const to = planned(plan.upstreams, u.ref.address, 'test backend');
    edits.push({ start: u.start, end: u.end, text: to });
    mapped.push({ kind: 'upstream', from: u.ref.address, to, line: u.ref.line, ...(u.ref.file === undefined ? {} : { file: u.ref.file }) });
  }
  for (const e of s.extra) {
    const to = plan.upstreams.get(e.address);
    if (to === undefined) continue;
    edits.push({ start: e.start, end: e.end, text: to });
    mapped.push({ kind: 'upstream', from: e.address, to, ...at(e.directive) });
  }
  for (const v of s.vhosts) {
    const first = v.addresses[0];
    const last = v.addresses[v.addresses.length - 1];
    if (first === undefined || last === undefined) continue;
    const to = [...new Set(v.addresses.map((a) => port(a.address.port)))].join(' ');
    edits.push({ start: first.word.start, end: last.word.end, text: to });
    mapped.push({ kind: 'listen', from: v.addresses.map((a) => a.word.value).join(' '), to, ...at(v.open) });
  }
  for (const l of s.listens) {
    if (l.dropped) drop(l.directive);
    else replace(l.directive.words[1] as Word, port(l.address.port), 'listen', l.directive);
  }

  let vhost: VirtualHost | null = null;
  for (const { directive: d } of s.directives) {
    if (d.name === '<virtualhost') vhost = s.vhosts.find((v) => v.open === d) ?? null;
    if (d.name === '</virtualhost') vhost = null;
    const arg = d.words[1];
    if (DROP.has(d.name) || (d.name === 'sslopensslconfcmd' && arg?.value.toLowerCase() === 'dhparameters')) {
      drop(d);
      continue;
    }
    if (arg === undefined || arg.value.includes('${')) continue;
    if (d.name === 'loadmodule') {
      const module = debianModule(d);
      if (module === null) drop(d);
      else if (module.to !== module.word.value) replace(module.word, module.to, 'path', d);
    } else if (d.name === 'serverroot') {
      // Relative paths then resolve among the rendered copies, as they did in the user's tree; with
      // nothing copied, the run dir (Apache wants a directory that exists).
      replace(arg, hasCopies ? `${runDir}/files` : runDir, 'path', d);
    } else if (d.name === 'documentroot' && !existsSync(arg.value)) {
      // Apache 2.4.71 refuses a DocumentRoot that is not a directory; lbdrill serves no content from it.
      replace(arg, runDir, 'path', d);
    } else if (d.name === 'typesconfig' && !arg.value.startsWith('/')) {
      replace(arg, DEBIAN_MIME_TYPES, 'path', d);
    } else if (d.name === 'sslcertificatefile') {
      // No key file in the section: the user's file held both, and so must ours.
      const both = !(vhost?.hasKeyFile ?? s.mainHasKeyFile);
      replace(arg, both ? plan.tls.pemFile : plan.tls.certFile, 'certificate', d);
    } else if (d.name === 'namevirtualhost' && plan.ports.has(readAddress(arg.value, d.file ?? sourcePath, d.line).port)) {
      replace(arg, port(readAddress(arg.value, d.file ?? sourcePath, d.line).port), 'listen', d);
    } else if (d.name === 'sslcertificatekeyfile') {
      replace(arg, plan.tls.keyFile, 'certificate', d);
    } else if (d.name === 'sslproxymachinecertificatefile') {
      replace(arg, plan.tls.pemFile, 'certificate', d);
    } else if (CERT_FILE.has(d.name)) {
      replace(arg, plan.tls.certFile, 'certificate', d);
    } else if (LOG_FILE.has(d.name) && !/^syslog/i.test(arg.value)) {
      // The container idiom /proc/self/fd/1 cannot be opened on the socket a child's stdio is, and a
      // piped log ("|/usr/sbin/rotatelogs /var/log/x 86400") would run the user's program on their
      // paths: a run-dir file instead.
      const fallback = d.name === 'errorlog' ? 'error.log' : 'access.log';
      const stream = /^\/(proc\/self\/fd\/\d+|dev\/std(out|err))$/.test(arg.value) || arg.value.startsWith('|');
      replace(arg, names.mapBase(stream ? fallback : arg.value, fallback), 'path', d);
    } else if (RUN_FILE.has(d.name)) {
      replace(arg, d.name === 'pidfile' ? `${runDir}/apache2.pid` : names.mapBase(arg.value, d.name), 'path', d);
    } else if (RUN_DIR.has(d.name)) {
      replace(arg, runDir, 'path', d);
    } else if (d.name === 'mutex' && /^(file|fcntl|flock):/i.test(arg.value)) {
      replace(arg, `${arg.value.slice(0, arg.value.indexOf(':'))}:${runDir}`, 'path', d);
    } else if (d.name === 'sslsessioncache' || d.name === 'sslstaplingcache') {
      const spec = cacheSpec(arg.value, names);
      if (spec !== null) replace(arg, spec, 'path', d);
    }
  }

  const variables = debianVariables(runDir);
  for (const [name, d] of s.variables) {
    const value = variables[name];
    if (value !== undefined) mapped.push({ kind: 'variable', from: `\${${name}}`, to: value, ...at(d) });
  }
  const order = treeOrder(s.tree);
  mapped.splice(0, mapped.length, ...uniqueMappings(mapped, s.tree).sort((a, b) => Number(a.line === undefined) - Number(b.line === undefined) || order(a, b)));

  const ownListens = new Set(s.listens.map((l) => l.address.port));
  const extraListens = [...new Set(s.vhosts.flatMap((v) => v.addresses.map((a) => a.address.port)))].filter((p) => !ownListens.has(p));
  const main = apacheMainConfig(runDir, extraListens.map(port), s.loadedModules);
  mapped.push({ kind: 'wrap', from: sourcePath, to: `${MAIN_FILE}: Include ${SITE_FILE}${extraListens.length > 0 ? `; Listen ${extraListens.map(port).join(', ')}` : ''}` });
  const rendered = s.tree.apply(edits);
  const copiesOf: Record<string, string> = {};
  for (const [file, text] of rendered) {
    if (file.base === 0) continue;
    const name = copies.copyOf(file).slice(runDir.length + 1);
    files[name] = text;
    copiesOf[name] = file.path;
  }
  const site = rendered.get(s.tree.files[0] as TreeFile) as string;
  return { files: { [SITE_FILE]: site, [MAIN_FILE]: main, ...files }, main: MAIN_FILE, source: SITE_FILE, mapped, ...(Object.keys(copiesOf).length > 0 ? { copiesOf } : {}) };
}

/**
 * A config that loads its own MPM is a whole server config (Debian builds every MPM as a module):
 * it loads what it needs, and a module lbdrill added would change it (an `<IfModule ssl_module>`
 * Listen 443 would open). The generated main then loads none.
 */
function wholeConfig(loaded: ReadonlySet<string>): boolean {
  return [...loaded].some((m) => m.startsWith('mpm_'));
}

/** `ssl_module`, `mod_ssl.c`, `ssl` -> "ssl". */
function moduleName(spec: string): string {
  return spec.replace(/^mod_/, '').replace(/(_module|\.c)$/, '');
}

/**
 * The section is inside an `<IfModule>` whose test fails where the directive is read: Apache skips
 * it, and lbdrill must neither plan nor map a Listen or VirtualHost in it. Loaded so far: the
 * user's LoadModules read before it, Debian's compiled-in modules, and unless the config is whole,
 * the modules lbdrill's main config loads first.
 */
function skippedByIfModule(block: Block | null, loaded: ReadonlySet<string>): boolean {
  for (let b = block; b !== null; b = b.parent) {
    const arg = b.name === 'ifmodule' ? b.open.words[1]?.value : undefined;
    if (arg === undefined) continue;
    const name = moduleName(arg.replace(/^!/, ''));
    const on = builtinModules().has(name) || loaded.has(`${name}_module`) || (!wholeConfig(loaded) && (MODULES as readonly string[]).includes(name));
    if (on === arg.startsWith('!')) return true;
  }
  return false;
}

let builtins: Set<string> | undefined;

/** Modules compiled into the apache2 binary (`apache2 -l`), which LoadModule must not name. */
function builtinModules(): Set<string> {
  if (builtins !== undefined) return builtins;
  let listing = 'mod_so.c mod_watchdog.c mod_log_config.c mod_logio.c mod_version.c mod_unixd.c';
  try {
    listing = execFileSync('apache2', ['-l'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
  } catch {
    // No binary to ask: Debian's build, which validate() will report missing anyway.
  }
  builtins = new Set([...listing.matchAll(/mod_(\w+)\.c/g)].map((m) => m[1] as string));
  return builtins;
}

/** The main config lbdrill wraps site.conf in: Debian's apache2.conf defaults, everything writable under runDir. */
function apacheMainConfig(runDir: string, listens: string[], userModules: ReadonlySet<string>): string {
  const q = (path: string): string => apArg(path);
  const compiled = builtinModules();
  // mod_proxy's extensions resolve its symbols when loaded: with the user's own LoadModule of
  // mod_proxy (later, in their file) lbdrill loads none of them ahead of it.
  const userProxy = userModules.has('proxy_module');
  const modules = wholeConfig(userModules)
    ? []
    : MODULES.filter((m) => !compiled.has(m) && !userModules.has(`${m}_module`) && !(userProxy && (m.startsWith('proxy_') || m.startsWith('lbmethod_'))) && existsSync(`${MODULE_DIR}/mod_${m}.so`));
  const lines = [
    '# Generated by lbdrill: runs site.conf, the file under test, as published (Debian apache2.conf defaults).',
    `ServerRoot "${SERVER_ROOT}"`,
    ...Object.entries(debianVariables(runDir)).map(([k, v]) => `Define ${k} ${q(v)}`),
    `DefaultRuntimeDir ${q(runDir)}`,
    `PidFile ${q(`${runDir}/apache2.pid`)}`,
    `Mutex file:${q(runDir)} default`,
    `ErrorLog ${q(`${runDir}/error.log`)}`,
    'LogLevel warn',
    'ServerName localhost',
    `User ${RUN_USER}`,
    `Group ${RUN_USER}`,
    'Timeout 300',
    'KeepAlive On',
    'MaxKeepAliveRequests 100',
    'KeepAliveTimeout 5',
    'HostnameLookups Off',
    '',
    ...modules.map((m) => `LoadModule ${m}_module ${MODULE_DIR}/mod_${m}.so`),
    // Each module's Debian settings, as a2enmod would enable them.
    ...modules.filter((m) => existsSync(`${MODULE_CONF_DIR}/${m}.conf`)).map((m) => `Include ${MODULE_CONF_DIR}/${m}.conf`),
    // Debian's defaults need mod_mime and mod_authz_core; a whole config (which loads its own
    // modules, after this point) may load neither, and then states its own.
    '<IfModule mime_module>',
    '    TypesConfig /etc/mime.types',
    '</IfModule>',
    '',
    '<IfModule authz_core_module>',
    '<Directory />',
    '    Options FollowSymLinks',
    '    AllowOverride None',
    '    Require all denied',
    '</Directory>',
    '<Directory /usr/share>',
    '    AllowOverride None',
    '    Require all granted',
    '</Directory>',
    '<Directory /var/www/>',
    '    Options Indexes FollowSymLinks',
    '    AllowOverride None',
    '    Require all granted',
    '</Directory>',
    '<FilesMatch "^\\.ht">',
    '    Require all denied',
    '</FilesMatch>',
    '</IfModule>',
    'AccessFileName .htaccess',
    'LogFormat "%v:%p %h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\"" vhost_combined',
    'LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\"" combined',
    'LogFormat "%h %l %u %t \\"%r\\" %>s %O" common',
    'LogFormat "%{Referer}i -> %U" referer',
    'LogFormat "%{User-agent}i" agent',
    '',
    ...listens.map((l) => `Listen ${l}`),
    `Include ${q(`${runDir}/${SITE_FILE}`)}`,
    '',
  ];
  return lines.join('\n');
}

/** Apache httpd: `BalancerMember`/`ProxyPass`/`Listen`/`<VirtualHost>` as published, wrapped in a generated main config. */
export const apacheDialect: ConfigDialect = { analyze, render };
