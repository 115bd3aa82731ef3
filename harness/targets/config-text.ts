/**
 * Text helpers shared by the config dialects: 1-based line lookup, in-line edits that
 * never add or remove a line, commenting a directive out in place, and a word splitter
 * that keeps each word's span in the source.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { LbdrillError } from '../errors.ts';
import type { CompanionFile, CompanionKind, ConfigAnalysis, Mapping } from './config-plan.ts';

/** Replace source[start, end) with text. */
export interface TextEdit {
  start: number;
  end: number;
  text: string;
}

/** What lbdrill writes in front of a directive it comments out. */
export const DROPPED_MARKER = '# lbdrill dropped: ';

/** Offsets <-> 1-based line numbers of one source text. */
export class LineIndex {
  readonly source: string;
  readonly #starts: number[];

  constructor(source: string) {
    this.source = source;
    this.#starts = [0];
    for (let i = 0; i < source.length; i++) if (source.charCodeAt(i) === 10) this.#starts.push(i + 1);
  }

  get lineCount(): number {
    return this.#starts.length;
  }

  /** 1-based line holding offset. */
  lineOf(offset: number): number {
    let lo = 0;
    let hi = this.#starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.#starts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }

  lineStart(line: number): number {
    return this.#starts[line - 1] ?? this.source.length;
  }

  /** Offset just past the last character of the line, before its "\r\n" or "\n". */
  lineEnd(line: number): number {
    const next = this.#starts[line];
    if (next === undefined) return this.source.length;
    return this.source.charCodeAt(next - 2) === 13 ? next - 2 : next - 1;
  }
}

/** The one error a dialect raises for syntax it cannot read: "file:line: what". */
export function parseError(sourcePath: string, line: number, what: string): LbdrillError {
  return new LbdrillError('LBDRILL_ERR_CONFIG_PARSE', `${sourcePath}:${line}: ${what}`);
}

/**
 * Applies non-overlapping edits. Refuses any edit that would add or remove a line, so a
 * line number in the proxy's error message is still a line number in the user's file.
 */
export function applyEdits(source: string, edits: readonly TextEdit[]): string {
  const sorted = [...edits].sort((a, b) => a.start - b.start || a.end - b.end);
  let out = '';
  let at = 0;
  for (const edit of sorted) {
    if (edit.start < at || edit.end < edit.start || edit.end > source.length) {
      throw new LbdrillError('LBDRILL_ERR_INTERNAL', `overlapping config edits at offset ${edit.start}`);
    }
    if (source.slice(edit.start, edit.end).includes('\n') || edit.text.includes('\n')) {
      throw new LbdrillError('LBDRILL_ERR_INTERNAL', `config edit at offset ${edit.start} would change the line count`);
    }
    out += source.slice(at, edit.start) + edit.text;
    at = edit.end;
  }
  return out + source.slice(at);
}

/**
 * Edits that comment out source[start, end) in place. Every line the directive spans
 * becomes a comment; when something live follows it on its last line (another directive,
 * a closing brace), the directive's text there is cut and appended as a trailing comment,
 * so what follows stays live and edits to it still apply.
 */
export function commentOutEdits(index: LineIndex, start: number, end: number): TextEdit[] {
  const source = index.source;
  const first = index.lineOf(start);
  const last = index.lineOf(Math.max(start, end - 1));
  const lastEnd = index.lineEnd(last);
  const tail = source.slice(end, lastEnd);
  const tailIsLive = tail.trim() !== '' && !tail.trimStart().startsWith('#');
  const edits: TextEdit[] = [];
  for (let line = first; line <= last; line++) {
    const from = line === first ? start : index.lineStart(line);
    const to = line === last ? end : index.lineEnd(line);
    const comment = (line === first ? DROPPED_MARKER : '# ') + source.slice(from, to);
    if (line === last && tailIsLive) {
      const gap = tail.length - tail.trimStart().length;
      edits.push({ start: from, end: to + gap, text: '' }, { start: lastEnd, end: lastEnd, text: ` ${comment}` });
    } else {
      edits.push({ start: from, end: to, text: comment });
    }
  }
  return edits;
}

/** One word of a directive line, with the span it occupies in the source (quotes included). */
export interface Word {
  /** the word with quotes removed and backslash escapes resolved. */
  value: string;
  /** the word exactly as written. */
  raw: string;
  start: number;
  end: number;
  /** the quote the word opens with, or '' when unquoted. */
  quote: '' | '"' | "'";
}

/** How a dialect splits words. */
export interface SplitOptions {
  /** '#' outside quotes starts a comment anywhere (HAProxy), or never (Apache: whole comment lines only). */
  comments: 'anywhere' | 'none';
  /** quotes may open in the middle of a word, `a"b c"` (HAProxy). */
  midWordQuotes: boolean;
}

/** The words of one line and what else splitting found. */
export interface SplitResult {
  words: Word[];
  /** offset of the comment's '#', if the line has one. */
  commentStart: number | null;
  /** a quote was still open at the end of the text. */
  unterminated: boolean;
}

/** Splits one logical line into words; `base` is the line's offset in the source. */
export function splitWords(text: string, base: number, options: SplitOptions): SplitResult {
  const words: Word[] = [];
  let i = 0;
  let commentStart: number | null = null;
  let unterminated = false;
  const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
  while (i < text.length) {
    while (i < text.length && isSpace(text[i])) i++;
    if (i >= text.length) break;
    if (options.comments === 'anywhere' && text[i] === '#') {
      commentStart = base + i;
      break;
    }
    const start = i;
    let value = '';
    let quote: '' | '"' | "'" = '';
    let open: '"' | "'" | null = null;
    let first = true;
    while (i < text.length) {
      const c = text[i] as string;
      if (open !== null) {
        if (c === '\\' && (text[i + 1] === open || text[i + 1] === '\\')) {
          value += text[i + 1];
          i += 2;
          continue;
        }
        i++;
        if (c === open) {
          open = null;
          if (!options.midWordQuotes) break;
          continue;
        }
        value += c;
        continue;
      }
      if (isSpace(c)) break;
      if (options.comments === 'anywhere' && c === '#') break;
      if ((c === '"' || c === "'") && (first || options.midWordQuotes)) {
        if (first) quote = c;
        open = c;
        first = false;
        i++;
        continue;
      }
      if (c === '\\' && options.midWordQuotes && i + 1 < text.length) {
        value += text[i + 1];
        i += 2;
        first = false;
        continue;
      }
      value += c;
      first = false;
      i++;
    }
    if (open !== null) unterminated = true;
    words.push({ value, raw: text.slice(start, i), start: base + start, end: base + i, quote });
  }
  return { words, commentStart, unterminated };
}

/** The word re-quoted the way the user quoted it. */
export function requote(word: Word, value: string): string {
  return word.quote === '' ? value : `${word.quote}${value}${word.quote}`;
}

/** Files the runner itself keeps in a run directory (certificate files, the process log); never handed out. */
export const RESERVED_NAMES: readonly string[] = ['ca.pem', 'server.crt', 'server.key', 'server.pem', 'process.log'];

/** Gives each original path one run-directory file; the same path always gets the same file. */
export class RunDirNames {
  readonly #byPath = new Map<string, string>();
  readonly #taken = new Set<string>();
  readonly #runDir: string;

  constructor(runDir: string, reserved: readonly string[] = []) {
    this.#runDir = runDir.replace(/\/+$/, '');
    for (const name of [...RESERVED_NAMES, ...reserved]) this.#taken.add(name);
  }

  /**
   * runDir/<name> for `original`: `name` is the wanted relative name ("haproxy.sock",
   * "tmp/proxy"), made unique by a "-2", "-3" before its extension.
   */
  map(original: string, name: string): string {
    const known = this.#byPath.get(original);
    if (known !== undefined) return known;
    const clean = name.replace(/[^A-Za-z0-9._$/-]/g, '_').replace(/^[./]+/, '') || 'file';
    const dot = clean.lastIndexOf('.');
    const slash = clean.lastIndexOf('/');
    const [stem, ext] = dot > slash + 1 ? [clean.slice(0, dot), clean.slice(dot)] : [clean, ''];
    let chosen = clean;
    for (let n = 2; this.#taken.has(chosen); n++) chosen = `${stem}-${n}${ext}`;
    this.#taken.add(chosen);
    const full = `${this.#runDir}/${chosen}`;
    this.#byPath.set(original, full);
    return full;
  }

  /** runDir/<base name of original>, made unique. */
  mapBase(original: string, fallback: string, subdir = ''): string {
    const base = basename(original) || fallback;
    return this.map(original, subdir === '' ? base : `${subdir}/${base}`);
  }
}

/** Scheme default ports for URLs in proxy configs. */
export const SCHEME_PORTS: Readonly<Record<string, number>> = {
  http: 80,
  https: 443,
  ws: 80,
  wss: 443,
  h2c: 80,
  h2: 443,
  grpc: 80,
  grpcs: 443,
  ajp: 8009,
  fcgi: 9000,
  scgi: 4000,
  uwsgi: 3031,
};

/** The host:port part of a URL like "http://10.0.0.1:13000/path", with its offsets inside the URL text. */
export interface UrlAuthority {
  scheme: string;
  /** host as written ("10.0.0.1", "[::1]", "backend.local"). */
  host: string;
  port: number | null;
  /** offsets of "host[:port]" within the URL text. */
  start: number;
  end: number;
}

/** Finds the authority of scheme://[userinfo@]host[:port]...; null when text is not such a URL. */
export function urlAuthority(text: string): UrlAuthority | null {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text);
  if (m === null) return null;
  const scheme = (m[1] as string).toLowerCase();
  let start = m[0].length;
  let end = start;
  while (end < text.length && !'/?#$'.includes(text[end] as string)) end++;
  const at = text.lastIndexOf('@', end - 1);
  if (at >= start) start = at + 1;
  const hostPort = text.slice(start, end);
  // "http://10.0.0.1:8080$request_uri" has a literal authority; "http://api-$env" does not.
  if (hostPort === '' || (text[end] === '$' && !/:\d+$/.test(hostPort))) return null;
  const v6 = /^(\[[^\]]*\])(?::(\d+))?$/.exec(hostPort);
  if (v6 !== null) return { scheme, host: v6[1] as string, port: v6[2] === undefined ? null : Number(v6[2]), start, end };
  const hp = /^([^:]*)(?::(\d+))?$/.exec(hostPort);
  if (hp === null) return null;
  return { scheme, host: hp[1] as string, port: hp[2] === undefined ? null : Number(hp[2]), start, end };
}

/** "host:port", with an IPv6 host in brackets. */
export function hostPort(host: string, port: number): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${h}:${port}`;
}

/** The IPv4 loopback listen address lbdrill gives every listener. */
export const LOOPBACK = '127.0.0.1';

/** Looks a mapping up in a plan, failing loudly: a missing entry is a runner bug, not a user error. */
export function planned<K, V>(map: ReadonlyMap<K, V>, key: K, what: string): V {
  const value = map.get(key);
  if (value === undefined) throw new LbdrillError('LBDRILL_ERR_INTERNAL', `render plan has no ${what} for ${String(key)}`);
  return value;
}

/** plan.timeScale when it changes anything, else null; a scale that is not a positive finite number is a runner bug. */
export function activeTimeScale(plan: { timeScale?: number }): number | null {
  const scale = plan.timeScale;
  if (scale === undefined || scale === 1) return null;
  if (!Number.isFinite(scale) || scale <= 0) throw new LbdrillError('LBDRILL_ERR_INTERNAL', `render plan time scale ${scale} is not a positive number`);
  return scale;
}

/** A duration multiplied by a time scale: whole milliseconds, at least minMs (0 stays 0: it means "off" or "at once"). */
export function scaleMs(ms: number, scale: number, minMs: number): number {
  if (ms === 0) return 0;
  return Math.max(minMs, Math.round(ms * scale));
}

/** A duration as proxies write it: "3s" for whole seconds, else "250ms". */
export function formatMs(ms: number): string {
  return ms % 1000 === 0 && ms !== 0 ? `${ms / 1000}s` : `${ms}ms`;
}

// ---- companion files ----

/** A file reference a dialect found, before analyze reads it. */
export interface CompanionRef {
  path: string;
  line: number;
  kind: CompanionKind;
  /** the included file the reference is written in; undefined in the source file. */
  file?: string;
}

/** A path that names no single file lbdrill can copy: a glob, or one built from variables at run time. */
export function notAFile(path: string): boolean {
  return path === '' || /[*?[$%]/.test(path);
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Reads the companion files a config names. Where a file lives: the path as written when it
 * exists (a relative path is taken from the config's directory, then from each of `roots`, the
 * proxy's own base such as /etc/nginx); else the same base name next to the config file, so a
 * bundled config at fixtures/configs/x/haproxy.cfg can name /etc/haproxy/maps/nodes.map and ship
 * fixtures/configs/x/nodes.map; else LBDRILL_ERR_CONFIG_READ, one line naming the file and the line.
 */
export function readCompanions(refs: readonly CompanionRef[], sourcePath: string, roots: readonly string[] = []): CompanionFile[] {
  const here = dirname(sourcePath);
  const read = new Map<string, { foundAt: string; content: string } | null>();
  const files: CompanionFile[] = [];
  for (const ref of refs) {
    let found = read.get(ref.path);
    if (found === undefined) {
      const asWritten = isAbsolute(ref.path) ? [ref.path] : [join(here, ref.path), ...roots.map((r) => join(r, ref.path))];
      const foundAt = [...asWritten, join(here, basename(ref.path))].find(isFile);
      found = foundAt === undefined ? null : { foundAt, content: readCompanion(foundAt, ref, sourcePath) };
      read.set(ref.path, found);
    }
    if (found === null) {
      throw new LbdrillError('LBDRILL_ERR_CONFIG_READ', `${ref.file ?? sourcePath}:${ref.line}: ${ref.kind} file ${ref.path} not found (nor ${basename(ref.path)} next to the config)`);
    }
    files.push({ path: ref.path, line: ref.line, kind: ref.kind, ...found });
  }
  return files;
}

function readCompanion(path: string, ref: CompanionRef, sourcePath: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new LbdrillError('LBDRILL_ERR_CONFIG_READ', `${ref.file ?? sourcePath}:${ref.line}: cannot read ${ref.kind} file ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Gives a companion file its copy in the run directory (runDir/files/<base name>, unique; the same
 * path always gets the same copy), adds the copy to `files` and its mapping to `mapped`, and
 * returns the copy's absolute path to write into the config.
 */
export function copyCompanion(
  analysis: ConfigAnalysis,
  ref: { path: string; line: number; file?: string },
  names: RunDirNames,
  runDir: string,
  files: Record<string, string>,
  mapped: Mapping[],
): string {
  const file = analysis.files?.find((f) => f.path === ref.path);
  if (file === undefined) throw new LbdrillError('LBDRILL_ERR_INTERNAL', `the analysis has no contents for ${ref.path}: render needs the analysis analyze made`);
  const to = names.map(`companion:${file.path}`, `files/${basename(file.path) || 'file'}`);
  files[to.slice(runDir.replace(/\/+$/, '').length + 1)] = file.content;
  mapped.push({ kind: 'path', from: file.path, to, line: ref.line, ...(ref.file === undefined ? {} : { file: ref.file }), companion: file.kind });
  return to;
}

/** Where a rendered config put its copy of a companion file (e.g. the map path for HAProxy's `set map`). */
export function companionCopy(mapped: readonly Mapping[], path: string): string | undefined {
  return mapped.find((m) => m.companion !== undefined && m.from === path)?.to;
}
