import { startBackend, type StartedBackend } from '../../fixtures/backend/index.ts';
import { mkdir } from 'node:fs/promises';
import type { BackendBinding, Check, CheckContext, CheckResult, DrillStatus, FailoverSettings, ModeSettings, Severity } from '../checks/check.ts';
import type { AuthContract } from '../contracts/auth.ts';
import type { Binding } from '../contracts/binding.ts';
import type { NodeMapContract } from '../contracts/node-map.ts';
import type { PoolMatch } from '../contracts/pools.ts';
import type { QueueContract } from '../contracts/queue.ts';
import type { Profile } from '../profiles/profile.ts';
import { bindTarget } from './bind-target.ts';
import { CheckScope, executeCheck } from './execute-check.ts';
import type { FaultProxy } from '../faults/fault-proxy.ts';
import type { FaultSite } from '../faults/fault.ts';
import { ProbeStream } from '../probe/probe-stream.ts';
import { WsFleet } from '../ws/ws-fleet.ts';
import type { RuntimeApi } from '../runtime/runtime-api.ts';
import { LbClient } from '../client/lb-client.ts';
import { LbdrillError } from '../errors.ts';
import type { LbProcess, StartupCost } from '../process/lb-process.ts';
import { freePort, waitForPorts } from './ports.ts';
import type { PreparedTarget } from './prepare-target.ts';
import { RequestIndex } from './request-index.ts';
import { locateNodeMap } from './node-map-file.ts';

/** Address lbdrill's client connects from: distinct from the LB's own, so X-Forwarded-For is provable. */
export const CLIENT_ADDRESS = '127.0.9.9';
const START_TIMEOUT_MS = 15_000;

/** A check as a profile lists it: which one, and how much it matters there. */
export interface PlannedCheck {
  check: Check;
  severity: Severity;
  /** the profile pool the check acts on, for checks that need one. */
  pool?: string;
}

/** Progress events for the terminal view. */
export type RunEvent =
  | { type: 'target-start'; target: string; detail: string }
  | { type: 'bindings'; target: string; bindings: readonly Binding[] }
  | { type: 'check-start'; target: string; check: string }
  | { type: 'check-progress'; target: string; check: string; message: string }
  | { type: 'drill-status'; target: string; check: string; status: DrillStatus }
  | { type: 'check-done'; result: CheckResult };

export interface TargetRun {
  results: CheckResult[];
  /** what lbdrill read from the config for the contract, and from where. */
  bindings: Binding[];
  /** set when the LB under test died during the run. */
  crashed?: string;
  /** what starting a containerized LB cost, up to serving. */
  startup?: StartupCost & { readyMs: number };
}

/**
 * Starts a prepared target's backends and LB, runs the planned checks against it and
 * stops everything again, whatever happens in between.
 */
export async function runTarget(options: {
  prepared: PreparedTarget;
  checks: readonly PlannedCheck[];
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
}): Promise<TargetRun> {
  const { prepared, settings, onEvent } = options;
  const targetName = prepared.spec.name;
  const backends: StartedBackend[] = [];
  let lb: LbProcess | undefined;
  const client = new LbClient({ ca: options.caPem, localAddress: CLIENT_ADDRESS });
  let index: RequestIndex | undefined;
  const results: CheckResult[] = [];
  let crashed: string | undefined;
  let startup: TargetRun['startup'];
  const proxies = new Map<string, FaultProxy>();
  let runtime: RuntimeApi | undefined;
  const shared = new Map<string, Promise<unknown>>();
  let bindings: Binding[] = [];
  // The backends answer as health checks what the config's own checks ask for (HEAD /login.php, GET /),
  // so health faults hit exactly what the LB checks and error faults leave it alone.
  const configured = (prepared.target.analysis.pools ?? []).flatMap((h) => (h.active?.path !== undefined ? [h.active.path.split('?', 1)[0]!] : []));
  const healthPaths = [...new Set(['/health', ...options.healthPaths, ...configured])];
  try {
    const testHosts = prepared.testHosts;
    for (const plan of prepared.backends) {
      if (testHosts && plan.testHost !== undefined) {
        // The backend listens on the root side of its host's veth; a forwarder in the host's
        // namespace takes the address the LB was given.
        const host = testHosts.host(plan.testHost);
        const backend = await startBackend({ id: plan.id, host: host.backendAddress, port: await freePort(host.backendAddress), healthPaths });
        backends.push(backend);
        await host.forward(plan.port, backend.port);
        continue;
      }
      if (options.faultProxies) {
        const { startProxiedBackend } = await import('./proxied-backend.ts');
        const { backend, proxy } = await startProxiedBackend({ id: plan.id, host: plan.host, port: plan.port, healthPaths, seed: options.seed });
        backends.push(backend);
        proxies.set(plan.id, proxy);
      } else {
        backends.push(await startBackend({ id: plan.id, host: plan.host, port: plan.port, healthPaths }));
      }
    }
    index = new RequestIndex(backends);
    onEvent({ type: 'target-start', target: targetName, detail: `starting ${prepared.version}` });
    const spawnedAt = performance.now();
    lb = prepared.kind.spawn(prepared.target);
    const started = lb;
    if (prepared.kind.waitReady) await prepared.kind.waitReady(started, prepared.target);
    else await waitForPorts(started, prepared.endpoints.map((e) => e.port), START_TIMEOUT_MS);
    const readyAfterMs = performance.now() - spawnedAt;
    const cost = await started.startupCost?.();
    if (cost) {
      // The proxy may serve before the engine has finished reporting the start: ready counts from then on.
      startup = { ...cost, readyMs: Math.max(0, Math.round(readyAfterMs - cost.createMs)) };
      onEvent({ type: 'target-start', target: targetName, detail: `container ${startup.image}: image check ${startup.imageCheckMs} ms, create ${startup.createMs} ms, ready ${startup.readyMs} ms` });
    }
    started.on('exit', () => {
      if (started.unexpectedExit) crashed = `${started.label} exited unexpectedly (code ${started.exitCode}, signal ${started.exitSignal}): ${started.tail(3).join(' | ')}`;
    });
    runtime = prepared.kind.runtime?.(started, prepared.target);
    const nodeMap = options.nodeMap && locateNodeMap(options.nodeMap, prepared.target.rendered.mapped);
    const map = nodeMap?.map;
    const mapUpdater = map === undefined ? undefined : prepared.kind.mapUpdater?.(map, { process: started, target: prepared.target, runtime });
    const serverRemover = runtime === undefined ? prepared.kind.serverRemover?.({ process: started, target: prepared.target }) : undefined;
    const artifactDir = prepared.target.runDir;
    await mkdir(artifactDir, { recursive: true });

    const app = prepared.endpoints.find((e) => e.tls) ?? prepared.endpoints[0];
    if (!app) throw new LbdrillError('LBDRILL_ERR_TARGET_START', `${prepared.target.sourceFile} has no listener lbdrill can send traffic to`);
    const backendBindings: BackendBinding[] = prepared.backends.map((plan, i) => ({ backend: backends[i]!, fixture: backends[i]!, upstream: plan.upstream }));
    const requests = index;
    const bound = await bindTarget({
      profile: options.profile,
      matches: options.matches,
      analysis: prepared.target.analysis,
      sourceFile: prepared.target.sourceFile,
      backends: backendBindings,
      client,
      app,
      nextId: (() => {
        let n = 0;
        return () => `lbdrill-bind-${++n}-${options.seed}`;
      })(),
    });
    bindings = bound.bindings;
    onEvent({ type: 'bindings', target: targetName, bindings });
    const pools = bound.pools;
    const site = (b: BackendBinding): FaultSite => {
      const proxy = proxies.get(b.backend.id);
      const hostIndex = prepared.backends.find((p) => p.id === b.backend.id)?.testHost;
      const hosts = prepared.testHosts;
      const link =
        hosts && hostIndex !== undefined
          ? { down: () => hosts.linkDown(hostIndex), up: () => hosts.linkUp(hostIndex), partition: () => hosts.partition(hostIndex), heal: () => hosts.heal(hostIndex) }
          : undefined;
      const fixture = backends.find((x) => x.id === b.backend.id);
      return { name: b.backend.id, backend: b.backend, ...(fixture ? { fixture } : {}), ...(proxy ? { proxy } : {}), ...(link ? { link } : {}) };
    };

    const runOne = async (planned: PlannedCheck): Promise<CheckResult> => {
      const { check, severity } = planned;
      const base = { check: check.id, title: check.title, target: targetName, severity };
      const missing = check.needs.map((f) => prepared.kind.unsupported[f]).find((reason) => reason !== undefined);
      if (missing) {
        return { ...base, status: 'unsupported', durationMs: 0, expected: check.title, observed: missing, evidence: { needs: check.needs } };
      }
      if (crashed) return { ...base, status: 'error', durationMs: 0, expected: check.title, observed: crashed, evidence: {} };
      const pool = planned.pool === undefined ? undefined : pools.find((p) => p.name === planned.pool);
      if (check.needsPool && !pool) {
        const reason = planned.pool === undefined ? 'the profile declares no pool' : (bound.missing.get(planned.pool)?.reason ?? `no pool ${planned.pool}`);
        return { ...base, status: 'fail', durationMs: 0, expected: check.title, observed: `no pool for the profile's ${planned.pool ?? 'pools'}: ${reason}`, evidence: { missingPool: planned.pool ?? null } };
      }
      onEvent({ type: 'check-start', target: targetName, check: check.id });
      let counter = 0;
      const scope = new CheckScope(options.seed);
      const { controller, faults, probes, fleets } = scope;
      const ctx: CheckContext = {
        target: { name: targetName, version: prepared.version },
        app,
        endpoints: prepared.endpoints,
        backends: backendBindings,
        client,
        settings,
        seed: options.seed,
        signal: controller.signal,
        nextId: () => `${check.id}-${++counter}-${options.seed}`,
        tag: (id, extra = {}) => ({ 'x-lbdrill-id': id, ...extra }),
        received: (id) => requests.get(id),
        waitReceived: (id, timeoutMs) => requests.waitFor(id, () => true, timeoutMs),
        waitBodyBytes: (id, minBytes, timeoutMs) => requests.waitFor(id, (rec) => rec.bodyBytes >= minBytes, timeoutMs),
        progress: (message) => onEvent({ type: 'check-progress', target: targetName, check: check.id, message }),
        pools,
        pool,
        missingPools: bound.missing,
        failover: options.failover,
        runtime,
        faults,
        site,
        serverName: (b) => b.upstream.name,
        probe: (o) => {
          const sources = options.failover.probeSources;
          const clients = sources > 1 ? Array.from({ length: sources }, (_, i) => new LbClient({ ca: options.caPem, localAddress: `127.${200 + Math.floor(i / 250)}.${i % 250}.9` })) : undefined;
          const probe = ProbeStream.start({ client, endpoint: app, ratePerSec: options.failover.probeRatePerSec, timeoutMs: 5_000, ...(clients ? { clients } : {}), ...o });
          if (clients) {
            const stop = probe.stop.bind(probe);
            probe.stop = async () => {
              const samples = await stop();
              await Promise.allSettled(clients.map((c) => c.close()));
              return samples;
            };
          }
          probes.push(probe);
          return probe;
        },
        artifactDir,
        shared: <T>(key: string, compute: () => Promise<T>) => {
          if (!shared.has(key)) shared.set(key, compute());
          return shared.get(key) as Promise<T>;
        },
        status: (status) => onEvent({ type: 'drill-status', target: targetName, check: check.id, status }),
        sticky: bound.sticky,
        auth: options.auth,
        weights: pool && bound.weights.get(pool.name),
        queue: options.queue,
        nodeMap,
        mapUpdater,
        serverRemover,
        caPem: options.caPem,
        wsFleet: async (o) => {
          const fleet = await WsFleet.start({
            endpoint: app,
            ca: options.caPem,
            seed: `${options.seed}-${check.id}-${fleets.length}`,
            backoff: { initialMs: 100, maxMs: 2_000 },
            connectTimeoutMs: 10_000,
            ...o,
          });
          fleets.push(fleet);
          return fleet;
        },
      };
      const result = await executeCheck({ check, severity, target: targetName, ctx, scope, crashed: () => crashed });
      onEvent({ type: 'check-done', result });
      return result;
    };

    const ordered = options.checks;
    const background = ordered.filter((p) => p.check.background && !p.check.disruptive);
    const foreground = ordered.filter((p) => !p.check.background && !p.check.disruptive);
    const disruptive = ordered.filter((p) => p.check.disruptive);
    const backgroundRuns = background.map((p) => runOne(p));
    const byId = new Map<string, CheckResult>();
    for (const p of foreground) byId.set(p.check.id, await runOne(p));
    for (const [i, r] of (await Promise.all(backgroundRuns)).entries()) byId.set(background[i]!.check.id, r);
    for (const p of disruptive) byId.set(p.check.id, await runOne(p));
    for (const p of ordered) results.push(byId.get(p.check.id)!);
  } finally {
    index?.close();
    await runtime?.close();
    await client.close();
    await lb?.stop();
    await Promise.allSettled([...backends.map((b) => b.close()), ...[...proxies.values()].map((p) => p.close())]);
    const leftovers = (await prepared.testHosts?.dispose())?.leftovers ?? [];
    if (leftovers.length > 0) throw new LbdrillError('LBDRILL_ERR_INTERNAL', `network namespaces not fully removed: ${leftovers.join(', ')}`);
  }
  return { results, bindings, ...(crashed ? { crashed } : {}), ...(startup ? { startup } : {}) };
}
