import { nowMs } from '../probe/probe-stream.ts';
import { writeMapEntry, type MapFileSyntax } from './map-file.ts';
import type { MapChangeDetails, MapUpdater } from './map-updater.ts';

/** Makes the LB read a rewritten map file (nginx: a graceful reload); resolves once that is confirmed. */
export type MapReload = () => Promise<MapChangeDetails>;

/**
 * A map updater that rewrites the run-dir copy of the map file the LB reads (atomically: temp
 * file + rename), then makes the LB take it: a reload where the LB reads maps only at start
 * (nginx), nothing where it re-reads the file on its own (Apache mod_rewrite, on mtime change).
 */
export class FileMapUpdater implements MapUpdater {
  readonly title: string;
  readonly map: string;
  readonly #syntax: MapFileSyntax;
  readonly #reload: MapReload | undefined;

  constructor(options: { file: string; syntax: MapFileSyntax; title: string; reload?: MapReload }) {
    this.map = options.file;
    this.#syntax = options.syntax;
    this.title = options.title;
    this.#reload = options.reload;
  }

  async set(key: string, value: string): Promise<MapChangeDetails> {
    const t0 = nowMs();
    const write = await writeMapEntry(this.map, key, value, this.#syntax);
    const rewriteMs = nowMs() - t0;
    const reload = this.#reload ? await this.#reload() : undefined;
    return { rewriteMs: round(rewriteMs), write, ...(reload ? { reload } : {}) };
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
