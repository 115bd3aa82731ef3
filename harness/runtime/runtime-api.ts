import { EventEmitter } from 'node:events';
import type { LbServerState, LbStateEvent } from './lb-state-event.ts';

/** What a runtime API can be asked to do to one server (HAProxy `set server ... state`, reference admin API). */
export type ServerCommand = 'drain' | 'maint' | 'ready';

/**
 * The LB's own view and control of its servers, where the target has one: state
 * transitions as they happen, and drain/maint/ready. Targets without one (nginx OSS,
 * Apache without balancer-manager) have no RuntimeApi and checks needing it are unsupported.
 */
export abstract class RuntimeApi extends EventEmitter {
  /** "HAProxy stats socket", "reference LB admin API". */
  abstract readonly title: string;
  /** how state changes are timed, for the report ("haproxy log line on stderr, read as it is written"). */
  abstract readonly eventSource: string;
  readonly events: LbStateEvent[] = [];

  protected record(event: LbStateEvent): void {
    this.events.push(event);
    this.emit('state', event);
  }

  /** The first event at or after `sinceMs` putting `pool/server` into `state`; waits up to timeoutMs, undefined on timeout. */
  waitForState(pool: string, server: string, state: LbServerState, sinceMs: number, timeoutMs: number): Promise<LbStateEvent | undefined> {
    const matches = (e: LbStateEvent) => e.pool === pool && e.server === server && e.state === state && e.atMs >= sinceMs;
    const found = this.events.find(matches);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => {
      const onState = (e: LbStateEvent) => {
        if (!matches(e)) return;
        clearTimeout(timer);
        this.off('state', onState);
        resolve(e);
      };
      const timer = setTimeout(() => {
        this.off('state', onState);
        resolve(undefined);
      }, timeoutMs);
      this.on('state', onState);
    });
  }

  /** Puts a server into drain/maint or back into rotation; throws LBDRILL_ERR_RUNTIME_API with the LB's answer on refusal. */
  abstract command(pool: string, server: string, command: ServerCommand): Promise<void>;

  /**
   * Sets one entry of a routing map at run time (HAProxy `set map <file> key value`, the
   * reference LB's `PUT /v1/maps/<name>/entries/<key>`); `map` is the map file the LB
   * loaded (HAProxy) or the map's name (reference LB).
   */
  abstract setMapEntry(map: string, key: string, value: string): Promise<void>;

  /** Current state of every server, straight from the LB. */
  abstract states(): Promise<Array<{ pool: string; server: string; state: LbServerState }>>;

  abstract close(): Promise<void>;
}
