import { EventEmitter } from 'node:events';
import type { RecordedRequest, StartedBackend } from '../../fixtures/backend/index.ts';

/**
 * Finds requests by their X-Lbdrill-Id across every backend of a target, and lets a
 * check wait on the backend's own events (a request arrived, body bytes arrived)
 * instead of sleeping.
 */
export class RequestIndex {
  readonly #byId = new Map<string, RecordedRequest>();
  readonly #events = new EventEmitter();
  readonly #detach: Array<() => void> = [];

  constructor(backends: readonly StartedBackend[]) {
    this.#events.setMaxListeners(0);
    for (const backend of backends) {
      const onRequest = (rec: RecordedRequest): void => {
        if (rec.lbdrillId !== undefined) this.#byId.set(rec.lbdrillId, rec);
        this.#events.emit('update', rec);
      };
      const onProgress = (rec: RecordedRequest): void => {
        this.#events.emit('update', rec);
      };
      backend.events.on('request', onRequest);
      backend.events.on('body-progress', onProgress);
      this.#detach.push(() => {
        backend.events.off('request', onRequest);
        backend.events.off('body-progress', onProgress);
      });
    }
  }

  get(id: string): RecordedRequest | undefined {
    return this.#byId.get(id);
  }

  /** Resolves with the record once `ready(record)` holds, or undefined after timeoutMs. */
  waitFor(id: string, ready: (rec: RecordedRequest) => boolean, timeoutMs: number): Promise<RecordedRequest | undefined> {
    const existing = this.#byId.get(id);
    if (existing && ready(existing)) return Promise.resolve(existing);
    return new Promise((resolve) => {
      const onUpdate = (rec: RecordedRequest): void => {
        if (rec.lbdrillId === id && ready(rec)) finish(rec);
      };
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      const finish = (rec: RecordedRequest | undefined): void => {
        clearTimeout(timer);
        this.#events.off('update', onUpdate);
        resolve(rec);
      };
      this.#events.on('update', onUpdate);
    });
  }

  close(): void {
    for (const detach of this.#detach) detach();
  }
}
