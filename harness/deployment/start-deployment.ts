import 'disposablestack/AsyncDisposableStack/auto';
import { DrillProblem, type BackendBinding, type CheckContext, type FailoverSettings, type PoolBinding } from '../checks/check.ts';
import { LbClient, type Endpoint } from '../client/lb-client.ts';
import { LbdrillError } from '../errors.ts';
import { ProbeStream } from '../probe/probe-stream.ts';
import type { Profile } from '../profiles/profile.ts';
import { checkFleets, PROBE_TIMEOUT_MS, sharedOnce } from '../runner/check-capabilities.ts';
import { MODES } from '../runner/run-profile.ts';
import type { StartedTarget } from '../runner/started-target.ts';
import type { Feature } from '../targets/target-kind.ts';
import { DeployedBackend } from './deployed-backend.ts';
import type { Deployment } from './deployment.ts';
import { deploymentView, viewTitle } from './deployment-view.ts';
import { HookRunner } from './hook-runner.ts';
import { identifyBackend } from './identify-backend.ts';


/** What a deployed pool cannot offer a check, with the reason shown as its `unsupported` result. */
const DEPLOYED_UNSUPPORTED: Readonly<Partial<Record<Feature, string>>> = {
  'own-backends': "needs lbdrill's own backends (request records, health-only faults, backend ids over WebSocket); a deployed pool's backends are the operator's",
  'runtime-api': 'a deployed LB is changed through its hooks; its view is read-only here',
};

/** A deployed pool as a started target: its hooks (every one that ran is undone on dispose) and its LB's view. */
export interface StartedDeployment extends StartedTarget {
  readonly hooks: HookRunner;
  /** the LB's own view as the report names it ("none: ..." without one). */
  readonly viewTitle: string;
  readonly app: Endpoint;
}

function notRecorded(): never {
  throw new DrillProblem("this check reads what lbdrill's own backends recorded; a deployed pool's backends record nothing for lbdrill");
}

/** The endpoint of the deployment's LB URL. */
function endpointOf(url: URL): Endpoint {
  const tls = url.protocol === 'https:';
  const port = url.port === '' ? (tls ? 443 : 80) : Number(url.port);
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port, tls, serverName: url.hostname, originalPort: port };
}

/**
 * Starts watching a pool lbdrill did not start: its LB's view polled, a client for its URL, its
 * backends as hook-driven fault sites. Checks get traffic only to the deployment's LB URL at the
 * run's (capped) probe rate, backends named by the identify rule, faults through the hooks.
 * Request records do not exist here: checks needing them declare `own-backends` and are
 * `unsupported`. A failed hook stops the target: the checks after it are not judged.
 */
export async function startDeployment(options: { deployment: Deployment; profile: Profile; poolName: string; failover: FailoverSettings; seed: number; artifactDir: string }): Promise<StartedDeployment> {
  const { deployment, profile, poolName, failover, seed } = options;
  await using stack = new AsyncDisposableStack();
  const hooks = stack.use(new HookRunner({ deploymentFile: deployment.file }));
  const caPem = deployment.lb.caPem ?? '';
  const client = stack.use(new LbClient({ ca: caPem, insecure: deployment.lb.insecure }));
  const view = deploymentView(deployment);
  if (view) {
    stack.use(view);
    try {
      await view.start();
    } catch (err) {
      throw new LbdrillError('LBDRILL_ERR_TARGET_START', `${view.title} did not answer: ${(err as Error).message}`, { cause: err });
    }
  }
  const app = endpointOf(new URL(deployment.lb.url));
  const backends: BackendBinding[] = deployment.backends.map((spec) => ({
    backend: new DeployedBackend(spec, hooks),
    upstream: { pool: spec.pool, name: spec.server, address: spec.server, line: 0, backup: false, file: deployment.file },
  }));
  const pools: PoolBinding[] = [...new Set(deployment.backends.map((b) => b.pool))].map((pool) => ({
    name: pool === poolName ? (profile.pools[0]?.name ?? pool) : pool,
    configName: pool,
    probePath: deployment.lb.probePath,
    pathPrefix: '/',
    primaries: backends.filter((b) => b.upstream.pool === pool),
    backups: [],
    health: undefined,
  }));
  // the drill's pool first: failover checks act on pools[0]
  pools.sort((a, b) => Number(b.configName === poolName) - Number(a.configName === poolName));
  const identify = identifyBackend(deployment.identify, deployment.backends);
  const version = `deployed ${deployment.lb.url}`;
  const shared = new Map<string, Promise<unknown>>();
  const owned = stack.move();

  return {
    name: deployment.name,
    version,
    unsupported: DEPLOYED_UNSUPPORTED,
    pools,
    missingPools: new Map(),
    bindings: [],
    startup: undefined,
    hooks,
    viewTitle: viewTitle(view),
    app,
    stopped: () => hooks.failure && `not run: ${hooks.failure.message}`,
    context(check, scope, reporter): CheckContext {
      let counter = 0;
      return {
        target: { name: deployment.name, version },
        app,
        endpoints: [app],
        backends,
        client,
        settings: MODES.quick,
        seed,
        signal: scope.controller.signal,
        nextId: () => `${check.id}-${++counter}-${seed}`,
        tag: (id, extra = {}) => ({ 'x-lbdrill-id': id, ...extra }),
        received: notRecorded,
        waitReceived: notRecorded,
        waitBodyBytes: notRecorded,
        progress: reporter.progress,
        pools,
        missingPools: new Map(),
        pool: check.pool,
        failover,
        runtime: view,
        faults: scope.faults,
        site: (b) => ({ name: b.backend.id, backend: b.backend }),
        serverName: (b) => b.upstream.name,
        probe: (o) => {
          const probe = ProbeStream.start({ client, endpoint: app, ratePerSec: failover.probeRatePerSec, timeoutMs: PROBE_TIMEOUT_MS, identify, ...o });
          scope.probes.push(probe);
          return probe;
        },
        artifactDir: options.artifactDir,
        shared: sharedOnce(shared),
        status: reporter.status,
        sticky: undefined,
        nodeMap: undefined,
        mapUpdater: undefined,
        serverRemover: undefined,
        queue: undefined,
        weights: undefined,
        auth: undefined,
        limits: undefined,
        caPem,
        wsFleet: checkFleets(app, caPem, seed, check.id, scope),
      };
    },
    [Symbol.asyncDispose]: () => owned.disposeAsync(),
  };
}
