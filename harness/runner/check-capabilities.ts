import type { CheckContext } from '../checks/check.ts';
import type { Endpoint } from '../client/lb-client.ts';
import { WsFleet } from '../ws/ws-fleet.ts';
import type { CheckScope } from './execute-check.ts';

/** A probe request gives up after this long; a timeout counts as a client error of kind `timeout`. */
export const PROBE_TIMEOUT_MS = 5_000;

/** `ctx.shared` over one target's memo: the first check asking for `key` computes it, the others share the promise. */
export function sharedOnce(memo: Map<string, Promise<unknown>>): CheckContext['shared'] {
  return <T>(key: string, compute: () => Promise<T>) => {
    if (!memo.has(key)) memo.set(key, compute());
    return memo.get(key) as Promise<T>;
  };
}

/** `ctx.wsFleet` for one check: fleets against the target's app endpoint, seeded per check, closed with its scope. */
export function checkFleets(app: Endpoint, caPem: string, seed: number, checkId: string, scope: CheckScope): CheckContext['wsFleet'] {
  return async (o) => {
    const fleet = await WsFleet.start({ endpoint: app, ca: caPem, seed: `${seed}-${checkId}-${scope.fleets.length}`, backoff: { initialMs: 100, maxMs: 2_000 }, connectTimeoutMs: 10_000, ...o });
    scope.fleets.push(fleet);
    return fleet;
  };
}
