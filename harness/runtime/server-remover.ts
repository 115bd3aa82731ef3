import { readFile, rename, writeFile } from 'node:fs/promises';
import { LbdrillError } from '../errors.ts';
import type { UpstreamRef } from '../targets/config-plan.ts';
import type { MapChangeDetails } from './map-updater.ts';

/** What taking a server out of the running config did: the line, and the reload that applied it. */
export interface ServerRemoval {
  file: string;
  line: number;
  /** the server line as it was. */
  removed: string;
  reload: MapChangeDetails;
}

/**
 * Takes a server out of the pool the way an operator scales a pool down on an LB without a
 * runtime API: the server's line leaves the config and the LB reloads. This is the membership
 * change consistent hashing is for (nginx's `hash ... consistent`); a node that only fails is
 * re-hashed per key by nginx either way.
 */
export interface ServerRemover {
  /** how a server is removed, for the report. */
  readonly title: string;
  /** resolves once the LB runs without the server; throws LBDRILL_ERR_RUNTIME_API when it cannot. */
  remove(server: UpstreamRef): Promise<ServerRemoval>;
  /** puts the config back as it was and reloads (nothing when nothing was removed). */
  restore(): Promise<void>;
}

/** A single-line server directive: `server 127.0.0.5:8082 max_fails=3;` and an optional trailing comment. */
const SERVER_LINE = /^\s*server\s+[^;#{}]+;\s*(#.*)?$/;

/**
 * Comments out the server's line in the run-dir copy of the config (same line count, so every
 * other line number in the report still holds), writes it atomically and reloads.
 */
export class ConfigLineRemover implements ServerRemover {
  readonly title: string;
  readonly #file: string;
  readonly #reload: () => Promise<MapChangeDetails>;
  #original: string | undefined;

  constructor(options: { file: string; title: string; reload: () => Promise<MapChangeDetails> }) {
    this.#file = options.file;
    this.title = options.title;
    this.#reload = options.reload;
  }

  async remove(server: UpstreamRef): Promise<ServerRemoval> {
    const text = await readFile(this.#file, 'utf8');
    const lines = text.split('\n');
    const removed = lines[server.line - 1];
    if (removed === undefined || !SERVER_LINE.test(removed)) {
      throw new LbdrillError('LBDRILL_ERR_RUNTIME_API', `cannot take ${server.address} out of ${this.#file}: line ${server.line} is not a one-line server directive (${JSON.stringify(removed ?? '')})`);
    }
    this.#original ??= text;
    lines[server.line - 1] = `# lbdrill took this server out of the pool: ${removed.trim()}`;
    await writeAtomically(this.#file, lines.join('\n'));
    return { file: this.#file, line: server.line, removed: removed.trim(), reload: await this.#reload() };
  }

  async restore(): Promise<void> {
    if (this.#original === undefined) return;
    await writeAtomically(this.#file, this.#original);
    this.#original = undefined;
    await this.#reload();
  }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = `${file}.lbdrill-${process.pid}.tmp`;
  await writeFile(temp, text);
  await rename(temp, file);
}
