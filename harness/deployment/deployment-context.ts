import { DrillProblem, type BackendBinding, type CheckContext, type DrillStatus, type FailoverSettings, type ModeSettings, type PoolBinding } from '../checks/check.ts';
import type { Endpoint, LbClient } from '../client/lb-client.ts';
import { ProbeStream, type IdentifyBackend } from '../probe/probe-stream.ts';
import type { RuntimeApi } from '../runtime/runtime-api.ts';
import type { CheckScope } from '../runner/execute-check.ts';
import { WsFleet } from '../ws/ws-fleet.ts';

/** A probe request gives up after this long; a timeout counts as a client error of kind `timeout`. */
const PROBE_TIMEOUT_MS = 5_000;

/** What a deployed pool offers every check of a run. */
export interface DeployedTarget {
  name: string;
  /** "deployed: http://lb:8080 (HAProxy stats socket ...)". */
  version: string;
  app: Endpoint;
  client: LbClient;
  caPem: string;
  backends: readonly BackendBinding[];
  pools: readonly PoolBinding[];
  runtime: RuntimeApi | undefined;
  identify: IdentifyBackend;
  failover: FailoverSettings;
  settings: ModeSettings;
  seed: number;
  artifactDir: string;
  shared: Map<string, Promise<unknown>>;
}

function notRecorded(): never {
  throw new DrillProblem("this check reads what lbdrill's own backends recorded; a deployed pool's backends record nothing for lbdrill");
}

/**
 * One check's context on a deployed pool: traffic only to the deployment's LB URL at the
 * run's (capped) probe rate, backends named by the identify rule, faults through the
 * hooks, the LB's polled view as its runtime API. Request records do not exist here:
 * checks needing them declare `own-backends` and are `unsupported` before they start.
 */
export function deploymentContext(target: DeployedTarget, check: { id: string; pool: PoolBinding | undefined }, scope: CheckScope, onStatus: (status: DrillStatus) => void, onProgress: (message: string) => void): CheckContext {
  let counter = 0;
  return {
    target: { name: target.name, version: target.version },
    app: target.app,
    endpoints: [target.app],
    backends: target.backends,
    client: target.client,
    settings: target.settings,
    seed: target.seed,
    signal: scope.controller.signal,
    nextId: () => `${check.id}-${++counter}-${target.seed}`,
    tag: (id, extra = {}) => ({ 'x-lbdrill-id': id, ...extra }),
    received: notRecorded,
    waitReceived: notRecorded,
    waitBodyBytes: notRecorded,
    progress: onProgress,
    pools: target.pools,
    missingPools: new Map(),
    pool: check.pool,
    failover: target.failover,
    runtime: target.runtime,
    faults: scope.faults,
    site: (b) => ({ name: b.backend.id, backend: b.backend }),
    serverName: (b) => b.upstream.name,
    probe: (o) => {
      const probe = ProbeStream.start({ client: target.client, endpoint: target.app, ratePerSec: target.failover.probeRatePerSec, timeoutMs: PROBE_TIMEOUT_MS, identify: target.identify, ...o });
      scope.probes.push(probe);
      return probe;
    },
    artifactDir: target.artifactDir,
    shared: <T>(key: string, compute: () => Promise<T>) => {
      if (!target.shared.has(key)) target.shared.set(key, compute());
      return target.shared.get(key) as Promise<T>;
    },
    status: onStatus,
    sticky: undefined,
    nodeMap: undefined,
    mapUpdater: undefined,
    serverRemover: undefined,
    queue: undefined,
    weights: undefined,
    auth: undefined,
    caPem: target.caPem,
    wsFleet: async (o) => {
      const fleet = await WsFleet.start({ endpoint: target.app, ca: target.caPem, seed: `${target.seed}-${check.id}-${scope.fleets.length}`, backoff: { initialMs: 100, maxMs: 2_000 }, connectTimeoutMs: 10_000, ...o });
      scope.fleets.push(fleet);
      return fleet;
    },
  };
}
