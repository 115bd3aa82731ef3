/**
 * A config as operators ship it: the file the user passed plus every file it includes
 * (nginx `include`, Apache `Include`/`IncludeOptional`), read as one text. Each file keeps
 * its own content and line numbers; its words get offsets in the tree's joined text, so a
 * dialect edits spans in any file exactly as it edits the source file, and `apply` hands
 * back each file's rendered text with its line count unchanged.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import { LbdrillError } from '../errors.ts';
import type { CompanionFile, ConfigAnalysis, Mapping } from './config-plan.ts';
import { LineIndex, applyEdits, type RunDirNames, type TextEdit } from './config-text.ts';

/** One file of a tree, placed in the tree's joined text. */
export interface TreeFile {
  /** absolute path where lbdrill read it. */
  path: string;
  content: string;
  /** offset of its first character in ConfigTree.text. */
  base: number;
  /** lines of this file alone (offsets relative to `base`). */
  index: LineIndex;
}

/** The files of one config, joined into one text with a newline between files, so no span crosses two files. */
export class ConfigTree {
  readonly files: TreeFile[] = [];
  /** paths of files included more than once (their directives are visited once per include). */
  readonly repeated = new Set<string>();
  readonly #byPath = new Map<string, TreeFile>();
  #length = 0;
  #joined: { text: string; index: LineIndex } | undefined;

  /** Adds a file (the first one added is the source file); a path already in the tree returns its TreeFile and `added: false`. */
  add(path: string, content: string): { file: TreeFile; added: boolean } {
    const known = this.#byPath.get(path);
    if (known !== undefined) {
      this.repeated.add(path);
      return { file: known, added: false };
    }
    const file: TreeFile = { path, content, base: this.#length, index: new LineIndex(content) };
    this.files.push(file);
    this.#byPath.set(path, file);
    this.#length += content.length + 1;
    this.#joined = undefined;
    return { file, added: true };
  }

  /** Every file joined by '\n', the text all offsets point into. */
  get text(): string {
    return this.#join().text;
  }

  /** Lines of the joined text, for in-place edits (commentOutEdits) across the tree. */
  get index(): LineIndex {
    return this.#join().index;
  }

  #join(): { text: string; index: LineIndex } {
    if (this.#joined === undefined) {
      const text = this.files.map((f) => f.content).join('\n');
      this.#joined = { text, index: new LineIndex(text) };
    }
    return this.#joined;
  }

  /** The file holding a joined-text offset. */
  fileAt(offset: number): TreeFile {
    let found = this.files[0];
    for (const f of this.files) if (f.base <= offset) found = f;
    if (found === undefined) throw new LbdrillError('LBDRILL_ERR_INTERNAL', 'empty config tree');
    return found;
  }

  /**
   * Each file with the edits that fall in it applied. A file included twice is read once, so
   * its directives yield the same edit twice: identical edits are applied once.
   */
  apply(edits: readonly TextEdit[]): Map<TreeFile, string> {
    const seen = new Set<string>();
    const perFile = new Map<TreeFile, TextEdit[]>(this.files.map((f) => [f, []]));
    for (const e of edits) {
      const key = `${e.start}:${e.end}:${e.text}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const file = this.fileAt(e.start);
      perFile.get(file)?.push({ start: e.start - file.base, end: e.end - file.base, text: e.text });
    }
    return new Map([...perFile].map(([f, list]) => [f, applyEdits(f.content, list)]));
  }
}

/** Orders refs and mappings as the proxy reads them: by their file's place in the tree (the source file first), then by line. */
export function treeOrder(tree: ConfigTree): (a: { file?: string; line?: number }, b: { file?: string; line?: number }) => number {
  const rank = new Map(tree.files.map((f, i) => [f.path, i]));
  const of = (r: { file?: string }): number => (r.file === undefined ? 0 : rank.get(r.file) ?? 0);
  return (a, b) => of(a) - of(b) || (a.line ?? 0) - (b.line ?? 0);
}

/** Removes the mappings a file included twice yields twice (it is rendered once, but its directives are visited per include). */
export function uniqueMappings(mapped: readonly Mapping[], tree: ConfigTree): Mapping[] {
  const seen = new Set<string>();
  return mapped.filter((m) => {
    if (m.file === undefined || !tree.repeated.has(m.file)) return true;
    const key = JSON.stringify(m);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Where include paths resolve, as the proxy would resolve them on the host the config was written for. */
export interface IncludeRules {
  /** the directory of the file the user passed: it stands for `prefix`. */
  root: string;
  /** the proxy's base directory on that host (nginx's /etc/nginx, Apache's ServerRoot): relative paths resolve against it. */
  prefix: string;
  /** Apache: an include naming a directory includes every file below it. */
  directories?: boolean;
}

/** A glob pattern in an include path (`*`, `?`, `[...]`, as glob(3)); only the last component may hold one. */
export function isGlob(path: string): boolean {
  return /[*?[]/.test(path);
}

function stat(path: string): 'file' | 'dir' | null {
  try {
    const s = statSync(path);
    return s.isFile() ? 'file' : s.isDirectory() ? 'dir' : null;
  } catch {
    return null;
  }
}

/**
 * Where an include path may be, in order: inside the tree first (an absolute path under the
 * prefix, or a relative one, is taken from the tree's root), then as written on this machine.
 */
function candidates(path: string, rules: IncludeRules): string[] {
  const prefix = rules.prefix.replace(/\/+$/, '');
  if (!isAbsolute(path)) return [join(rules.root, path), join(prefix, path)];
  if (path.startsWith(`${prefix}/`)) return [join(rules.root, path.slice(prefix.length + 1)), path];
  return [path];
}

/** glob(3) for one path component: `*`, `?`, `[...]`; a leading dot is matched only by a leading dot. */
function componentPattern(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) re += '\\[';
      else {
        const body = glob.slice(i + 1, close);
        re += `[${body.startsWith('!') ? `^${body.slice(1)}` : body.replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${glob.startsWith('.') ? '' : '(?!\\.)'}${re}$`);
}

/** Files a glob names in one directory, in lexical order (glob(3) sorts). */
function expandGlob(pattern: string): string[] {
  const dir = dirname(pattern);
  const re = componentPattern(basename(pattern));
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names.filter((name) => re.test(name)).map((name) => join(dir, name)).filter((path) => stat(path) === 'file');
}

/** Every file below a directory, in lexical order, as Apache reads `Include DIR`. */
function filesBelow(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      const kind = stat(path);
      return kind === 'file' ? [path] : kind === 'dir' ? filesBelow(path) : [];
    });
}

/**
 * The files an include names, in the order the proxy reads them. A glob is expanded in the first
 * candidate place whose fixed directory exists (none: no files); a plain path is the first
 * candidate that exists, else the same base name in the tree's root (a bundled config naming
 * /etc/nginx/x ships x beside itself), else null.
 */
export function findInclude(path: string, rules: IncludeRules): string[] | null {
  const places = candidates(path, rules);
  if (isGlob(path)) {
    const place = places.find((p) => stat(dirname(p)) === 'dir');
    return place === undefined ? [] : expandGlob(place);
  }
  for (const p of places) {
    const kind = stat(p);
    if (kind === 'file') return [p];
    if (kind === 'dir' && rules.directories === true) return filesBelow(p);
  }
  const beside = join(rules.root, basename(path));
  return stat(beside) === 'file' ? [beside] : null;
}

/** What an include directive needs from a tree reader: the pattern as written and where it is written. */
export interface IncludeRef {
  path: string;
  /** the including file. */
  file: string;
  line: number;
  /** the proxy itself skips a missing file (Apache `IncludeOptional`). */
  optional: boolean;
}

/** Reads the files an include names; analyze reads the disk, render the contents analyze kept. */
export type IncludeReader = (ref: IncludeRef) => CompanionFile[];

/** The reader analyze uses: the disk, by `findInclude`'s rule; a missing file that is not optional is one line naming file:line. */
export function diskIncludes(rules: IncludeRules): IncludeReader {
  return (ref) => {
    if (isGlob(dirname(ref.path))) {
      throw new LbdrillError('LBDRILL_ERR_CONFIG_PARSE', `${ref.file}:${ref.line}: lbdrill cannot map include ${ref.path}: a wildcard in a directory name is not supported; name the directory`);
    }
    const found = findInclude(ref.path, rules);
    if (found === null) {
      if (ref.optional) return [];
      throw new LbdrillError('LBDRILL_ERR_CONFIG_READ', `${ref.file}:${ref.line}: include file ${ref.path} not found (looked in ${candidates(ref.path, rules).join(', ')} and next to the config)`);
    }
    return found.map((foundAt) => {
      let content: string;
      try {
        content = readFileSync(foundAt, 'utf8');
      } catch (err) {
        throw new LbdrillError('LBDRILL_ERR_CONFIG_READ', `${ref.file}:${ref.line}: cannot read include file ${foundAt}: ${(err as Error).message}`, { cause: err });
      }
      return { path: ref.path, line: ref.line, kind: 'include', foundAt, content };
    });
  };
}

/** The reader render uses: the files analyze read, so render never touches the disk. */
export function analyzedIncludes(analysis: ConfigAnalysis): IncludeReader {
  return (ref) => (analysis.files ?? []).filter((f) => f.kind === 'include' && f.path === ref.path);
}

/**
 * Where a path of the tree is copied to, relative to the run dir: under files/, at its path inside
 * the tree's root, or at its absolute path for a file outside it, so that a glob or a directory
 * over the copies names exactly the copies of what it named.
 */
function copyName(path: string, root: string): string {
  const inside = relative(root, path);
  return `files/${inside !== '' && !inside.startsWith('..') && !isAbsolute(inside) ? inside : path.replace(/^\/+/, '')}`;
}

/** Gives every included file its copy in the run dir and says what each include must name instead. */
export class TreeCopies {
  readonly #names: RunDirNames;
  readonly #runDir: string;
  readonly #rules: IncludeRules;

  constructor(names: RunDirNames, runDir: string, rules: IncludeRules) {
    this.#names = names;
    this.#runDir = runDir.replace(/\/+$/, '');
    this.#rules = rules;
  }

  /** The copy of one file: runDir/files/<path inside the tree>. */
  copyOf(file: TreeFile): string {
    const wanted = copyName(file.path, this.#rules.root);
    const to = this.#names.map(`tree:${file.path}`, wanted);
    if (to !== `${this.#runDir}/${wanted}`) throw new LbdrillError('LBDRILL_ERR_INTERNAL', `run directory name ${wanted} is taken twice`);
    return to;
  }

  /**
   * What the include must name: the copy of its one file; for a glob, the same pattern over the
   * copies' directory (a glob that matched nothing stays matching nothing: the in-tree place is
   * not copied); for a directory, the copy of that directory.
   */
  pattern(ref: IncludeRef, members: readonly CompanionFile[]): string {
    const places = candidates(ref.path, this.#rules);
    const first = members[0];
    if (isGlob(ref.path)) {
      const dir = first === undefined ? dirname(places[0] as string) : dirname(first.foundAt);
      return `${this.#runDir}/${copyName(join(dir, basename(ref.path)), this.#rules.root)}`;
    }
    if (first === undefined) return ref.path;
    const dir = places.find((p) => first.foundAt.startsWith(`${p}/`));
    return `${this.#runDir}/${copyName(dir ?? first.foundAt, this.#rules.root)}`;
  }
}
