import type { MapChangeDetails, MapUpdater } from './map-updater.ts';
import type { RuntimeApi } from './runtime-api.ts';

/** A map updater that asks the LB's runtime API (HAProxy `set map`, the reference LB's `PUT /v1/maps/...`). */
export class RuntimeMapUpdater implements MapUpdater {
  readonly title: string;
  readonly map: string;
  readonly #runtime: RuntimeApi;

  /** `map` is the map file the LB loaded (HAProxy) or the map's name (reference LB). */
  constructor(runtime: RuntimeApi, map: string, how: string) {
    this.#runtime = runtime;
    this.map = map;
    this.title = `${runtime.title} (${how})`;
  }

  async set(key: string, value: string): Promise<MapChangeDetails> {
    await this.#runtime.setMapEntry(this.map, key, value);
    return {};
  }
}
