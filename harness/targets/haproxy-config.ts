/**
 * The HAProxy dialect: reads a user's haproxy.cfg line by line, section by section, and
 * maps server addresses, binds, certificates and run-time paths onto the run's plan
 * without adding or removing a line.
 */
import type { ConfigAnalysis, ConfigDialect, ListenerRef, Mapping, RenderPlan, RenderedConfig, UpstreamRef } from './config-plan.ts';
import {
  LOOPBACK,
  LineIndex,
  RunDirNames,
  applyEdits,
  commentOutEdits,
  hostPort,
  parseError,
  planned,
  requote,
  splitWords,
  type TextEdit,
  type Word,
} from './config-text.ts';

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
}

interface Section {
  kind: string;
  name: string;
}

/** One address of a bind line. */
interface BindAddress {
  raw: string;
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
  return { raw, port: Number(portText), v6 };
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

function readLines(source: string, path: string, index: LineIndex): Line[] {
  const lines: Line[] = [];
  for (let n = 1; n <= index.lineCount; n++) {
    const start = index.lineStart(n);
    const end = index.lineEnd(n);
    const split = splitWords(source.slice(start, end), start, { comments: 'anywhere', midWordQuotes: true });
    if (split.unterminated) throw parseError(path, n, 'unmatched quote');
    if (split.words.length === 0) continue;
    lines.push({ number: n, words: split.words, start: (split.words[0] as Word).start, end: (split.words[split.words.length - 1] as Word).end });
  }
  return lines;
}

interface Scan {
  index: LineIndex;
  lines: Array<{ line: Line; section: Section }>;
  upstreams: Array<{ ref: UpstreamRef; word: Word }>;
  binds: Array<{ line: Line; section: Section; addresses: Array<BindAddress | null>; dropped: boolean; refs: ListenerRef[] }>;
}

function scan(source: string, path: string): Scan {
  const index = new LineIndex(source);
  const lines: Scan['lines'] = [];
  let section: Section = { kind: '', name: '' };
  for (const line of readLines(source, path, index)) {
    const keyword = (line.words[0] as Word).value;
    if (SECTIONS.has(keyword)) section = { kind: keyword, name: line.words[1]?.value ?? '' };
    lines.push({ line, section });
  }
  const result: Scan = { index, lines, upstreams: [], binds: [] };
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
        if (name === undefined || addressWord === undefined) throw parseError(path, line.number, `'${kw}' expects a name and an address`);
        if (addressWord.value.includes('$')) {
          throw parseError(path, line.number, `server address "${addressWord.value}" uses an environment variable; lbdrill cannot map it`);
        }
        const params = rest.slice(kw === 'server' ? 1 : 2).map((w) => w.value);
        const address = serverAddress(addressWord.value, params.includes('ssl'));
        result.upstreams.push({
          ref: { pool: s.name, name: name.value, address, line: line.number, backup: params.includes('backup') },
          word: addressWord,
        });
      }
    }
    if (s.kind === 'frontend' || s.kind === 'listen') {
      const binds = sectionLines.filter((l) => l.words[0]?.value === 'bind');
      const parsed = binds.map((l) => {
        const spec = l.words[1];
        if (spec === undefined) throw parseError(path, l.number, "'bind' expects an address");
        return spec.value.split(',').map((raw) => readBindAddress(raw, path, l.number));
      });
      const v4Ports = new Set(parsed.flat().flatMap((a) => (a !== null && !a.v6 ? [a.port] : [])));
      binds.forEach((l, i) => {
        const addresses = parsed[i] as Array<BindAddress | null>;
        const inet = addresses.filter((a): a is BindAddress => a !== null);
        const dropped = inet.length > 0 && inet.length === addresses.length && inet.every((a) => a.v6 && v4Ports.has(a.port));
        const tls = l.words.slice(2).some((w) => w.value === 'ssl');
        const ports = new Set<number>();
        const refs = dropped ? [] : inet.filter((a) => !ports.has(a.port) && ports.add(a.port)).map((a) => ({ spec: a.raw, port: a.port, tls, serverNames: [], line: l.number }));
        result.binds.push({ line: l, section: s, addresses, dropped, refs });
      });
    }
  }
  return result;
}

function analyze(source: string, sourcePath: string): ConfigAnalysis {
  const s = scan(source, sourcePath);
  return {
    upstreams: s.upstreams.map((u) => u.ref),
    listeners: s.binds.flatMap((b) => b.refs).sort((a, b) => a.line - b.line),
    fragment: false,
  };
}

function render(source: string, sourcePath: string, _analysis: ConfigAnalysis, plan: RenderPlan): RenderedConfig {
  const s = scan(source, sourcePath);
  const runDir = plan.runDir.replace(/\/+$/, '');
  const names = new RunDirNames(runDir, [MAIN_FILE]);
  const edits: TextEdit[] = [];
  const mapped: Mapping[] = [];
  const replace = (word: Word, value: string, kind: Mapping['kind'], line: number, from = word.value): void => {
    edits.push({ start: word.start, end: word.end, text: requote(word, value) });
    mapped.push({ kind, from, to: value, line });
  };
  /** Removes `words[i]` (and its value when it takes one) with the space before it. */
  const remove = (words: Word[], i: number, takesValue: boolean, line: number): void => {
    const last = words[takesValue ? i + 1 : i] ?? (words[i] as Word);
    const prev = words[i - 1] as Word;
    edits.push({ start: prev.end, end: last.end, text: '' });
    mapped.push({ kind: 'dropped', from: source.slice((words[i] as Word).start, last.end), to: '', line });
  };
  /** Certificate parameters shared by bind, server and default-server lines. */
  const certParams = (words: Word[], line: number, from: number): void => {
    for (let i = from; i < words.length; i++) {
      const kw = (words[i] as Word).value;
      const value = words[i + 1];
      if (value === undefined) break;
      if (kw === 'crt') replace(value, plan.tls.pemFile, 'certificate', line);
      else if (kw === 'ca-file' || kw === 'ca-verify-file') replace(value, plan.tls.certFile, 'certificate', line);
      else if (kw === 'crt-list') {
        edits.push({ start: (words[i] as Word).start, end: value.end, text: `crt ${plan.tls.pemFile}` });
        mapped.push({ kind: 'certificate', from: `crt-list ${value.value}`, to: `crt ${plan.tls.pemFile}`, line });
      } else if (kw === 'crl-file') remove(words, i, true, line);
      else continue;
      i++;
    }
  };

  for (const u of s.upstreams) replace(u.word, planned(plan.upstreams, u.ref.address, 'test backend'), 'upstream', u.ref.line, u.ref.address);

  const bindLines = new Set<Line>();
  for (const b of s.binds) {
    bindLines.add(b.line);
    const words = b.line.words;
    if (b.dropped) {
      edits.push(...commentOutEdits(s.index, b.line.start, b.line.end));
      mapped.push({ kind: 'dropped', from: source.slice(b.line.start, b.line.end), to: '', line: b.line.number });
      continue;
    }
    const specWord = words[1] as Word;
    const mappedAddresses = b.addresses.map((a, i) => {
      if (a !== null) return `${LOOPBACK}:${planned(plan.ports, a.port, 'loopback port')}`;
      const raw = specWord.value.split(',')[i] as string;
      const socket = raw.startsWith('/') ? raw : raw.startsWith('unix@') ? raw.slice(5) : null;
      return socket === null ? raw : names.mapBase(socket, 'haproxy.sock');
    });
    const spec = [...new Set(mappedAddresses)].join(',');
    if (spec !== specWord.value) replace(specWord, spec, 'listen', b.line.number);
    const wasV6 = b.addresses.some((a) => a?.v6 === true);
    for (let i = 2; i < words.length; i++) {
      const kw = (words[i] as Word).value;
      if (wasV6 && (kw === 'v4v6' || kw === 'v6only')) remove(words, i, false, b.line.number);
      // A bind pinned to a NIC would never see loopback traffic.
      if (kw === 'interface') remove(words, i++, true, b.line.number);
    }
    certParams(words, b.line.number, 2);
  }

  for (const { line, section } of s.lines) {
    if (bindLines.has(line)) continue;
    const words = line.words;
    const keyword = (words[0] as Word).value;
    if (section.kind === 'global' && DROP_GLOBAL.has(keyword)) {
      edits.push(...commentOutEdits(s.index, line.start, line.end));
      mapped.push({ kind: 'dropped', from: source.slice(line.start, line.end), to: '', line: line.number });
    } else if (section.kind === 'global' && keyword === 'pidfile' && words[1] !== undefined) {
      replace(words[1], `${runDir}/haproxy.pid`, 'path', line.number);
    } else if (section.kind === 'global' && keyword === 'server-state-file' && words[1] !== undefined) {
      replace(words[1], names.mapBase(words[1].value, 'haproxy.state'), 'path', line.number);
    } else if (section.kind === 'global' && keyword === 'stats' && words[1]?.value === 'socket' && words[2] !== undefined) {
      replace(words[2], names.map(words[2].value, 'haproxy.sock'), 'path', line.number);
    } else if (keyword === 'log' && words[1] !== undefined && /^(\/|unix@)/.test(words[1].value)) {
      // No syslog daemon here: the log goes to the process's stdout, which the runner keeps.
      const hasFormat = words.some((w) => w.value === 'format');
      replace(words[1], hasFormat ? 'stdout' : 'stdout format raw', 'path', line.number);
    } else if ((keyword === 'server' || keyword === 'default-server' || keyword === 'server-template') && (section.kind === 'backend' || section.kind === 'listen' || section.kind === 'defaults')) {
      certParams(words, line.number, keyword === 'default-server' ? 1 : keyword === 'server' ? 3 : 4);
    }
  }
  mapped.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  return { files: { [MAIN_FILE]: applyEdits(source, edits) }, main: MAIN_FILE, mapped };
}

/** HAProxy: `server`/`bind` in backend, frontend and listen sections, mapped onto loopback. */
export const haproxyDialect: ConfigDialect = { analyze, render };
