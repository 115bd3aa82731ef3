import 'disposablestack/AsyncDisposableStack/auto';
import { mkdir, readFile } from 'node:fs/promises';
import { startBackend, type StartedBackend } from '../../fixtures/backend/index.ts';
import type { BackendBinding, CheckContext, FailoverSettings, ModeSettings } from '../checks/check.ts';
import { LbClient } from '../client/lb-client.ts';
import type { AuthContract } from '../contracts/auth.ts';
import { limitBindings, limitsFor } from '../contracts/limits.ts';
import type { NodeMapContract } from '../contracts/node-map.ts';
import type { PoolMatch } from '../contracts/pools.ts';
import type { QueueContract } from '../contracts/queue.ts';
import { LbdrillError } from '../errors.ts';
import type { FaultProxy } from '../faults/fault-proxy.ts';
import type { FaultSite } from '../faults/fault.ts';
import { ProbeStream } from '../probe/probe-stream.ts';
import type { Profile } from '../profiles/profile.ts';
import { bindTarget } from './bind-target.ts';
import { checkFleets, PROBE_TIMEOUT_MS, sharedOnce } from './check-capabilities.ts';
import { chooseEntryPoint } from './entry-point.ts';
import { locateNodeMap } from './node-map-file.ts';
import { freePort, waitForPorts } from './ports.ts';
import type { BackendPlan, PreparedTarget } from './prepare-target.ts';
import { startProxiedBackend } from './proxied-backend.ts';
import { RequestIndex } from './request-index.ts';
import type { RunEvent } from './run-checks.ts';
import type { StartedTarget } from './started-target.ts';

/** Address lbdrill's client connects from: distinct from the LB's own, so X-Forwarded-For is provable. */
export const CLIENT_ADDRESS = '127.0.9.9';
const START_TIMEOUT_MS = 15_000;

/** What starting a prepared target needs besides the target itself: the contract and how to drive it. */
export interface StartTargetOptions {
  prepared: PreparedTarget;
  settings: ModeSettings;
  seed: number;
  caPem: string;
  failover: FailoverSettings;
  /** the profile: its sticky cookie and weights, bound to this config once the LB runs. */
  profile: Profile;
  /** the profile's pools, matched to the config's by name or --pool (the rest are found by traffic). */
  matches: readonly PoolMatch[];
  /** health paths of the profile the test backends answer (besides /health and the config's own checks). */
  healthPaths: readonly string[];
  /** seed 002's header-map contract. */
  nodeMap?: NodeMapContract;
  /** seed 002's server queue contract. */
  queue?: QueueContract;
  /** the profile's basic-auth contract. */
  auth?: AuthContract;
  /** put lbdrill's TCP fault proxy between the LB and every backend (network faults need it). */
  faultProxies?: boolean;
  onEvent: (event: RunEvent) => void;
}

/** One test backend standing in for an upstream address, and the fault proxy in front of it if any. */
interface RunningBackend {
  plan: BackendPlan;
  backend: StartedBackend;
  proxy?: FaultProxy;
}

/**
 * Starts what a prepared target runs on: its test backends (over TLS where the config speaks TLS
 * to them, behind fault proxies or on test hosts as asked), then the LB (a child process or a
 * container, as its kind launches it), its runtime view, and binds the profile's contract to it.
 * Everything started is owned by the returned target; a failure part-way disposes what started.
 */
export async function startTarget(options: StartTargetOptions): Promise<StartedTarget> {
  const { prepared, onEvent } = options;
  const name = prepared.spec.name;
  await using stack = new AsyncDisposableStack();
  const testHosts = prepared.testHosts;
  if (testHosts) {
    stack.defer(async () => {
      const leftovers = (await testHosts.dispose()).leftovers;
      if (leftovers.length > 0) throw new LbdrillError('LBDRILL_ERR_INTERNAL', `network namespaces not fully removed: ${leftovers.join(', ')}`);
    });
  }
  // The backends answer as health checks what the config's own checks ask for (HEAD /login.php, GET /),
  // so health faults hit exactly what the LB checks and error faults leave it alone.
  const configured = (prepared.target.analysis.pools ?? []).flatMap((h) => (h.active?.path !== undefined ? [h.active.path.split('?', 1)[0]!] : []));
  const healthPaths = [...new Set(['/health', ...options.healthPaths, ...configured])];
  const tls = prepared.backends.some((p) => p.upstream.tls)
    ? { certPem: await readFile(prepared.certificate.certFile, 'utf8'), keyPem: await readFile(prepared.certificate.keyFile, 'utf8') }
    : undefined;
  const running: RunningBackend[] = [];
  onEvent({ type: 'target-start', target: name, detail: `starting ${prepared.backends.length} test backends${testHosts ? ' on their test hosts' : ''}` });
  for (const plan of prepared.backends) {
    const own = { id: plan.id, healthPaths, ...(plan.upstream.tls && tls ? { tls } : {}) };
    if (testHosts && plan.testHost !== undefined) {
      // The backend listens on the root side of its host's veth; a forwarder in the host's
      // namespace takes the address the LB was given.
      const host = testHosts.host(plan.testHost);
      const backend = stack.use(await startBackend({ ...own, host: host.backendAddress, port: await freePort(host.backendAddress) }));
      await host.forward(plan.port, backend.port);
      running.push({ plan, backend });
    } else if (options.faultProxies) {
      const { backend, proxy } = await startProxiedBackend({ ...own, host: plan.host, port: plan.port, seed: options.seed });
      stack.use(backend);
      stack.use(proxy);
      running.push({ plan, backend, proxy });
    } else {
      running.push({ plan, backend: stack.use(await startBackend({ ...own, host: plan.host, port: plan.port })) });
    }
  }
  const requests = new RequestIndex(running.map((r) => r.backend));
  stack.defer(() => requests.close());
  const client = new LbClient({ ca: options.caPem, localAddress: CLIENT_ADDRESS });
  stack.defer(() => client.close());

  onEvent({ type: 'target-start', target: name, detail: `starting ${prepared.version}` });
  const spawnedAt = performance.now();
  const lb = stack.use(prepared.kind.spawn(prepared.target));
  let crashed: string | undefined;
  lb.on('exit', () => {
    if (lb.unexpectedExit) crashed = `${lb.label} exited unexpectedly (code ${lb.exitCode}, signal ${lb.exitSignal}): ${lb.tail(3).join(' | ')}`;
  });
  if (prepared.kind.waitReady) await prepared.kind.waitReady(lb, prepared.target);
  else await waitForPorts(lb, prepared.endpoints.map((e) => e.port), START_TIMEOUT_MS);
  const readyAfterMs = performance.now() - spawnedAt;
  const cost = await lb.startupCost?.();
  // The proxy may serve before the engine has finished reporting the start: ready counts from then on.
  const startup = cost && { ...cost, readyMs: Math.max(0, Math.round(readyAfterMs - cost.createMs)) };
  if (startup) onEvent({ type: 'target-start', target: name, detail: `container ${startup.image}: image check ${startup.imageCheckMs} ms, create ${startup.createMs} ms, ready ${startup.readyMs} ms` });
  const runtime = prepared.kind.runtime?.(lb, prepared.target);
  if (runtime) stack.defer(() => runtime.close());
  const nodeMap = options.nodeMap && locateNodeMap(options.nodeMap, prepared.target.rendered.mapped);
  const mapUpdater = nodeMap?.map === undefined ? undefined : prepared.kind.mapUpdater?.(nodeMap.map, { process: lb, target: prepared.target, runtime });
  const serverRemover = runtime === undefined ? prepared.kind.serverRemover?.({ process: lb, target: prepared.target }) : undefined;
  const artifactDir = prepared.target.runDir;
  await mkdir(artifactDir, { recursive: true });

  const { app, binding: entryBinding } = chooseEntryPoint(prepared.endpoints, prepared.target.analysis.listeners, options.matches, prepared.target.sourceFile);
  if (!app) throw new LbdrillError('LBDRILL_ERR_TARGET_START', `${prepared.target.sourceFile} has no listener lbdrill can send traffic to`);
  const backends: BackendBinding[] = running.map((r) => ({ backend: r.backend, fixture: r.backend, upstream: r.plan.upstream }));
  let bindCount = 0;
  const bound = await bindTarget({
    profile: options.profile,
    matches: options.matches,
    analysis: prepared.target.analysis,
    sourceFile: prepared.target.sourceFile,
    backends,
    client,
    app,
    auth: options.auth,
    nextId: () => `lbdrill-bind-${++bindCount}-${options.seed}`,
  });
  if (entryBinding) bound.bindings.unshift(entryBinding);
  const limits = options.profile.limits && limitsFor(options.profile.limits);
  bound.bindings.push(...limitBindings(app.limits, limits, prepared.target.sourceFile));
  onEvent({ type: 'bindings', target: name, bindings: bound.bindings });

  const site = (b: BackendBinding): FaultSite => {
    const own = running.find((r) => r.backend.id === b.backend.id);
    const hostIndex = own?.plan.testHost;
    const link =
      testHosts && hostIndex !== undefined
        ? { down: () => testHosts.linkDown(hostIndex), up: () => testHosts.linkUp(hostIndex), partition: () => testHosts.partition(hostIndex), heal: () => testHosts.heal(hostIndex) }
        : undefined;
    return { name: b.backend.id, backend: b.backend, ...(own ? { fixture: own.backend } : {}), ...(own?.proxy ? { proxy: own.proxy } : {}), ...(link ? { link } : {}) };
  };
  const shared = new Map<string, Promise<unknown>>();
  const owned = stack.move();

  return {
    name,
    version: prepared.version,
    unsupported: prepared.kind.unsupported,
    pools: bound.pools,
    missingPools: bound.missing,
    bindings: bound.bindings,
    startup,
    stopped: () => crashed,
    context(check, scope, reporter): CheckContext {
      let counter = 0;
      return {
        target: { name, version: prepared.version },
        app,
        endpoints: prepared.endpoints,
        backends,
        client,
        settings: options.settings,
        seed: options.seed,
        signal: scope.controller.signal,
        nextId: () => `${check.id}-${++counter}-${options.seed}`,
        tag: (id, extra = {}) => ({ 'x-lbdrill-id': id, ...extra }),
        received: (id) => requests.get(id),
        waitReceived: (id, timeoutMs) => requests.waitFor(id, () => true, timeoutMs),
        waitBodyBytes: (id, minBytes, timeoutMs) => requests.waitFor(id, (rec) => rec.bodyBytes >= minBytes, timeoutMs),
        progress: reporter.progress,
        pools: bound.pools,
        pool: check.pool,
        missingPools: bound.missing,
        failover: options.failover,
        runtime,
        faults: scope.faults,
        site,
        serverName: (b) => b.upstream.name,
        probe: (o) => {
          // Each probe source is a client address of its own (source-affinity configs spread them).
          const sources = options.failover.probeSources;
          const clients = sources > 1 ? Array.from({ length: sources }, (_, i) => new LbClient({ ca: options.caPem, localAddress: `127.${200 + Math.floor(i / 250)}.${i % 250}.9` })) : undefined;
          const probe = ProbeStream.start({ client, endpoint: app, ratePerSec: options.failover.probeRatePerSec, timeoutMs: PROBE_TIMEOUT_MS, ...(clients ? { clients } : {}), ...o });
          if (clients) {
            const stop = probe.stop.bind(probe);
            probe.stop = async () => {
              const samples = await stop();
              await Promise.allSettled(clients.map((c) => c.close()));
              return samples;
            };
          }
          scope.probes.push(probe);
          return probe;
        },
        artifactDir,
        shared: sharedOnce(shared),
        status: reporter.status,
        sticky: bound.sticky,
        auth: bound.auth,
        weights: check.pool && bound.weights.get(check.pool.name),
        queue: options.queue,
        limits,
        nodeMap,
        mapUpdater,
        serverRemover,
        caPem: options.caPem,
        wsFleet: checkFleets(app, options.caPem, options.seed, check.id, scope),
      };
    },
    [Symbol.asyncDispose]: () => owned.disposeAsync(),
  };
}
