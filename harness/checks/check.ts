import type { LbClient, Endpoint } from '../client/lb-client.ts';
import type { Feature, TargetName } from '../targets/target-kind.ts';
import type { RecordedRequest, StartedBackend } from '../../fixtures/backend/index.ts';
import type { PoolHealth, UpstreamRef } from '../targets/config-plan.ts';
import type { FaultController } from '../faults/fault-controller.ts';
import type { FaultSite, SiteBackend } from '../faults/fault.ts';
import type { RuntimeApi } from '../runtime/runtime-api.ts';
import type { MapUpdater } from '../runtime/map-updater.ts';
import type { ServerRemover } from '../runtime/server-remover.ts';
import type { ProbeOptions, ProbeStream } from '../probe/probe-stream.ts';
import type { StartedWsFleet, WsFleetOptions } from '../ws/ws-fleet.ts';
import type { AuthContract } from '../contracts/auth.ts';
import { BUDGET_DEFAULTS_MS, type BudgetName } from '../contracts/budgets.ts';
import type { NodeMapContract } from '../contracts/node-map.ts';
import type { LimitsContract } from '../contracts/limits.ts';
import type { QueueContract } from '../contracts/queue.ts';
import type { StickyContract } from '../contracts/sticky.ts';
import type { Weights } from '../contracts/weights.ts';

/**
 * What keeps a check from judging the config (no steady state, no pool, a contract the
 * profile lacks, a config that names no map): thrown anywhere in a check, the runner records
 * it as the check's `fail` with this message.
 */
export class DrillProblem extends Error {}

export type Severity = 'must' | 'should';
export type CheckStatus = 'pass' | 'fail' | 'unsupported' | 'error' | 'skipped';
export type RunMode = 'quick' | 'thorough';

/** What a check concluded; `expected`/`observed` are one line each, `evidence` has the numbers. */
export interface CheckOutcome {
  status: 'pass' | 'fail';
  expected: string;
  observed: string;
  evidence: Record<string, unknown>;
}

/** Sizes and durations that differ between --quick and --thorough. */
export interface ModeSettings {
  mode: RunMode;
  /** body size of stream.upload-large / stream.download-large. */
  largeBytes: number;
  /** silent gap of stream.idle-gap. */
  idleGapMs: number;
}

/** A pool of the profile (api_pool) as found in the config under test, with its backends. */
export interface PoolBinding {
  /** the profile's name for the pool. */
  name: string;
  /** the pool's name in the config (same unless matched with --pool). */
  configName: string;
  /** a path the LB routes to this pool. */
  probePath: string;
  /** the path prefix clients use for this pool ("/api/"); checks build request paths under it. */
  pathPrefix: string;
  primaries: BackendBinding[];
  backups: BackendBinding[];
  /** the config's health settings for the pool, as written. */
  health: PoolHealth | undefined;
}

/** Failover timing of a run: budgets (already multiplied by the time scale) and the probe stream settings. */
export interface FailoverSettings {
  /** 1 = the bundled intervals as written; 0.1 = ten times faster (intervals and budgets scaled together). */
  timeScale: number;
  /** named budgets in ms: detect, rejoin, shutdown, drain, passive, ramp. */
  budgetsMs: Readonly<Record<string, number>>;
  /** where each budget came from, for the report ("profile 20s x 0.1", "--budget detect=2s"). */
  budgetSources: Readonly<Record<string, string>>;
  probeRatePerSec: number;
  /** distinct client addresses the probe stream rotates over. */
  probeSources: number;
  /**
   * How the failover drill takes its victim out: `stop` ends the backend process (the host
   * refuses connections at once); `partition` drops every packet to and from its test host
   * (--network netns), as when a container's address vanishes or a host falls off the network.
   * Absent means stop.
   */
  victimFault?: VictimFault;
}

/** The faults a failover drill can take its victim out with (drill failover --fault). */
export const VICTIM_FAULTS = ['stop', 'partition'] as const;
export type VictimFault = (typeof VICTIM_FAULTS)[number];

/** A test backend together with the upstream line of the config it stands for. */
export interface BackendBinding {
  /** lbdrill's own backend in a native run, a hook-driven one on a deployed pool. */
  backend: SiteBackend;
  /** the same backend as lbdrill runs it (request records, connection counts); undefined on a deployed pool. */
  fixture?: StartedBackend;
  upstream: UpstreamRef;
}

/** Everything a check may use; it talks to the LB only through `client` and observes backends directly. */
export interface CheckContext {
  /** the LB under test: a target lbdrill started (its kind), or a deployed pool (the deployment's name). */
  target: { name: TargetName | string; version: string };
  /** where application traffic goes: the TLS listener if the config has one, else the first plain one. */
  app: Endpoint;
  /** every listener of the config, mapped. */
  endpoints: readonly Endpoint[];
  /** backends of every upstream server in the config. */
  backends: readonly BackendBinding[];
  client: LbClient;
  settings: ModeSettings;
  seed: number;
  signal: AbortSignal;
  /** a unique X-Lbdrill-Id for a request of this check. */
  nextId(): string;
  /** headers to send with a request so the backend can find it again. */
  tag(id: string, extra?: Record<string, string>): Record<string, string>;
  /** the request with this id, as one of the backends recorded it, or undefined. */
  received(id: string): RecordedRequest | undefined;
  /** waits until a backend recorded the request with this id, at most timeoutMs. */
  waitReceived(id: string, timeoutMs: number): Promise<RecordedRequest | undefined>;
  /** resolves as soon as a backend holds >= minBytes of that request's body; undefined after timeoutMs. */
  waitBodyBytes(id: string, minBytes: number, timeoutMs: number): Promise<RecordedRequest | undefined>;
  /** a progress line for the terminal ("uploading 128/256 MiB"). */
  progress(message: string): void;
  /** the profile's pools as bound in this config (those it has); empty for profiles that declare none. */
  pools: readonly PoolBinding[];
  /** the profile's pools the config does not have: each one's path prefix and why it is missing. */
  missingPools: ReadonlyMap<string, { pathPrefix: string; reason: string }>;
  /** the pool this check acts on (the profile's check entry names it, default the first), when the check `needsPool`. */
  pool: PoolBinding | undefined;
  failover: FailoverSettings;
  /** the LB's runtime API (state events, drain/maint/ready), when the target has one. */
  runtime: RuntimeApi | undefined;
  /** applies faults; every fault still applied is undone when the check ends, whatever happens. */
  faults: FaultController;
  /** the fault site of a backend. */
  site(backend: BackendBinding): FaultSite;
  /** the backend's server name in the LB's config, as its runtime API names it. */
  serverName(backend: BackendBinding): string;
  /** starts a probe stream through `app` at the run's probe rate (options override). */
  probe(options: Partial<ProbeOptions> & Pick<ProbeOptions, 'path'>): ProbeStream;
  /** this target's directory in the report (timelines, CSVs). */
  artifactDir: string;
  /** computes a value once per target run and shares it between checks (one failover sequence feeds three checks). */
  shared<T>(key: string, compute: () => Promise<T>): Promise<T>;
  /** live status for drills: phase and traffic, rendered by the terminal view. */
  status(status: DrillStatus): void;
  /** the sticky-cookie contract as bound to the config (its own cookie name, else the profile's), when the profile has one. */
  sticky: StickyContract | undefined;
  /** the header-map contract (seed 002). */
  nodeMap: NodeMapContract | undefined;
  /** changes the node map at run time the way an operator does on this target; undefined when the config does not name the profile's map. */
  mapUpdater: MapUpdater | undefined;
  /** takes a server out of the running config (nginx: line removed, graceful reload); only on targets without a runtime API. */
  serverRemover: ServerRemover | undefined;
  /** the server queue contract (seed 002's maxconn/maxqueue). */
  queue: QueueContract | undefined;
  /** the server weights the check's pool must follow (the config's own, else the profile's), by upstream address as written. */
  weights: Weights | undefined;
  /** the profile's basic-auth contract. */
  auth: AuthContract | undefined;
  /** the profile's hostile-client contract (maximum timeouts and header size, encoded slashes); the config's own limits are on `app.limits`. */
  limits: LimitsContract | undefined;
  /** PEM of the run's CA, for clients of the check's own (other source addresses, WebSockets). */
  caPem: string;
  /** starts WebSocket clients through `app` (TLS trusting the run's CA); closed when the check ends. */
  wsFleet(options: Omit<WsFleetOptions, 'endpoint' | 'url' | 'ca' | 'seed' | 'backoff' | 'connectTimeoutMs'> & Partial<Pick<WsFleetOptions, 'backoff' | 'connectTimeoutMs'>>): Promise<StartedWsFleet>;
}

/** lbdrill's own backend behind a binding; checks using it declare `needs: ['own-backends']`, so a deployed pool never gets here. */
export function ownBackend(binding: BackendBinding): StartedBackend {
  if (!binding.fixture) throw new DrillProblem(`${binding.backend.id} is not one of lbdrill's backends: this check reads what the backend recorded`);
  return binding.fixture;
}

/** The run's budget `name` for this target, or its default. */
export function budgetMs(ctx: Pick<CheckContext, 'failover'>, name: BudgetName): number {
  return ctx.failover.budgetsMs[name] ?? BUDGET_DEFAULTS_MS[name];
}

/** A drill's live state, for the terminal view. */
export interface DrillStatus {
  phase: string;
  elapsedMs: number;
  /** requests per backend (and per error kind) in the last second. */
  lastSecond: Record<string, number>;
  errors: number;
}

/** A conformance check is data: an id, a title, what it needs from the target, and a test. */
export interface Check {
  readonly id: string;
  readonly title: string;
  readonly severity: Severity;
  /** features the target must be able to express; otherwise the result is `unsupported`. */
  readonly needs: readonly Feature[];
  /**
   * acts on a pool of the profile (`ctx.pool`: the profile's check entry names it, default the first):
   * on a config without that pool the check fails with that reason and the rest still run.
   */
  readonly needsPool?: boolean;
  /** runs alone, after every other check (it stops backends or otherwise disturbs the target). */
  readonly disruptive?: boolean;
  /** may run concurrently with other non-disruptive checks (long waits, like idle gaps). */
  readonly background?: boolean;
  /** injects network faults: the run puts lbdrill's TCP fault proxy between the LB and every backend. */
  readonly networkFaults?: boolean;
  /** injects link faults (link_down, partition): the run must use --network netns. */
  readonly linkFaults?: boolean;
  /** checks names the check refers to against a target's backends before anything starts; throws LBDRILL_ERR_SCENARIO_INVALID. */
  validateTopology?(backendIds: readonly string[], where: string): void;
  run(ctx: CheckContext): Promise<CheckOutcome>;
}

/** One row of the report: a check on a target. */
export interface CheckResult {
  check: string;
  title: string;
  target: string;
  status: CheckStatus;
  severity: Severity;
  durationMs: number;
  expected: string;
  observed: string;
  evidence: Record<string, unknown>;
}

export function pass(expected: string, observed: string, evidence: Record<string, unknown> = {}): CheckOutcome {
  return { status: 'pass', expected, observed, evidence };
}

export function fail(expected: string, observed: string, evidence: Record<string, unknown> = {}): CheckOutcome {
  return { status: 'fail', expected, observed, evidence };
}
