import { chmod, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { LbdrillError } from '../errors.ts';

/**
 * How entries are written in a map file: `plain` is `key value` (HAProxy map files, Apache
 * `RewriteMap txt:`), `nginx` is `key value;` (a file included in an nginx `map` block).
 */
export type MapFileSyntax = 'plain' | 'nginx';

/** What one rewrite of a map file did, for the report. */
export interface MapFileWrite {
  file: string;
  /** the entry line as written. */
  line: string;
  /** an existing line was replaced (false: the entry was appended). */
  replaced: boolean;
  /** the file's mtime before and after, in ns since the epoch (mod_rewrite compares them at µs). */
  mtimeBeforeNs: string;
  mtimeAfterNs: string;
  /** the new file's mtime was set 1 s past the old one, because the clock tick gave both the same. */
  mtimeBumped: boolean;
}

let written = 0;

/** The key of an entry line, or undefined for a comment, a blank line or a line lbdrill cannot read as an entry. */
function keyOf(line: string): string | undefined {
  const m = /^\s*([^\s#;]+)\s+[^\s#;]+\s*;?\s*(?:#.*)?$/.exec(line);
  return m?.[1];
}

/**
 * Sets `key` to `value` in a map file the way an operator's map updater does: the new text is
 * written to a temporary file in the same directory and renamed over the map, so a reader sees
 * the old file or the new one, never half of it. Comments and other entries stay as they are;
 * a missing key is appended. The new file keeps the old one's mode and always gets a different
 * mtime (Apache's mod_rewrite re-reads a txt: map only when the mtime it stats differs from the
 * one it cached, and Linux stamps files from a coarse clock, so two writes within a tick can
 * share one).
 */
export async function writeMapEntry(file: string, key: string, value: string, syntax: MapFileSyntax): Promise<MapFileWrite> {
  if (!/^[^\s#;]+$/.test(key) || !/^[^\s#;]+$/.test(value)) {
    throw new LbdrillError('LBDRILL_ERR_INTERNAL', `map entry "${key}" -> "${value}": keys and values are single words`);
  }
  let before;
  let text;
  try {
    before = await stat(file, { bigint: true });
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new LbdrillError('LBDRILL_ERR_RUNTIME_API', `cannot read map file ${file}: ${(err as Error).message}`, { cause: err });
  }
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const entry = syntax === 'nginx' ? `${key} ${value};` : `${key} ${value}`;
  const lines = text.split(eol);
  let replaced = false;
  for (const [i, line] of lines.entries()) {
    if (keyOf(line) !== key) continue;
    lines[i] = `${/^\s*/.exec(line)![0]}${entry}`;
    replaced = true;
  }
  if (!replaced) {
    if (lines.at(-1) === '') lines.splice(-1, 0, entry);
    else lines.push(entry, '');
  }
  const temp = join(dirname(file), `.${basename(file)}.lbdrill-${process.pid}-${++written}.tmp`);
  try {
    await writeFile(temp, lines.join(eol));
    await chmod(temp, Number(before.mode & 0o7777n));
    const fresh = await stat(temp, { bigint: true });
    // Same mtime at the µs APR reports would leave mod_rewrite on its cached entries.
    const bumped = fresh.mtimeNs / 1000n === before.mtimeNs / 1000n;
    if (bumped) await utimes(temp, new Date(Number(fresh.atimeMs)), new Date(Number(before.mtimeNs / 1_000_000n) + 1000));
    await rename(temp, file);
    const after = await stat(file, { bigint: true });
    return { file, line: entry, replaced, mtimeBeforeNs: before.mtimeNs.toString(), mtimeAfterNs: after.mtimeNs.toString(), mtimeBumped: bumped };
  } catch (err) {
    await rm(temp, { force: true });
    throw new LbdrillError('LBDRILL_ERR_RUNTIME_API', `cannot rewrite map file ${file}: ${(err as Error).message}`, { cause: err });
  }
}
