import type { z } from 'zod';
import type { StartedBackend } from '../../fixtures/backend/index.ts';
import type { FaultProxy } from './fault-proxy.ts';

/**
 * Faults speak toxiproxy's language (https://github.com/Shopify/toxiproxy#toxics):
 * a fault has a `type`, a `stream` (upstream = LB -> backend, downstream = backend -> LB),
 * a `toxicity` (0..1, the share of connections it hits) and typed `attributes` whose
 * names carry their units (`latencyMs`, `rateKbps`). Every fault has an undo and
 * teardown always runs it, also when the run aborts.
 */

/** Every fault lbdrill can inject. */
export const FAULT_TYPES = [
  // the backend process
  'stop',
  'crash',
  'hang',
  'slow',
  'errors',
  'health_fail',
  'flap',
  // the network between the LB and one backend, through lbdrill's TCP fault proxy
  'latency',
  'bandwidth',
  'reset_peer',
  'timeout',
  'slicer',
  'limit_data',
  'slow_close',
  // the link to the backend's own test host (--network netns)
  'link_down',
  'partition',
] as const;
export type FaultType = (typeof FAULT_TYPES)[number];

/** Where a fault acts: the backend process, or the TCP path to it. */
export type FaultLayer = 'backend' | 'network' | 'link';

/** The backend's test host in network-namespace mode: its link and its packet filter. */
export interface FaultLink {
  /** `ip link set <veth> down`: the host vanishes (the root namespace routes its range to unreachable). */
  down(): Promise<void>;
  up(): Promise<void>;
  /** iptables DROP in the host's namespace: packets vanish silently, connects time out, open connections stall. */
  partition(): Promise<void>;
  heal(): Promise<void>;
}

/** toxiproxy's direction: upstream is LB -> backend (requests), downstream is backend -> LB (responses). */
export type FaultStream = 'upstream' | 'downstream';

/**
 * What every backend offers faults, whoever runs it: lbdrill's own backend (StartedBackend)
 * or a deployed one whose stop/start/kill/pause are the operator's hook commands.
 */
export interface SiteBackend {
  /** the name the backend answers with (X-Lbdrill-Backend, or what a deployment's identify rule yields). */
  readonly id: string;
  /** the listener goes away and open connections are cut; `start` brings it back on the same address. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** dies like a killed process (SIGKILL, `docker kill`); `start` brings it back. */
  crash(): Promise<void>;
  /** true: stops answering while its connections stay open (a frozen process, `docker pause`); false resumes it. */
  setHang(on: boolean): void | Promise<void>;
}

/** One backend of the topology, and the handles faults act through. */
export interface FaultSite {
  /** the backend's name in the topology ("backend-api-1"). */
  name: string;
  backend: SiteBackend;
  /** lbdrill's own backend, for faults that change how it answers (slow, errors, health_fail); undefined for a deployed backend. */
  fixture?: StartedBackend;
  /** the TCP fault proxy the LB reaches this backend through; undefined when the run has none. */
  proxy?: FaultProxy;
  /** the backend's own test host, in network-namespace mode (--network netns). */
  link?: FaultLink;
}

/** The site's own lbdrill backend, for a fault that changes how it answers; throws naming the site when it has none. */
export function fixtureOf(site: FaultSite, type: FaultType): StartedBackend {
  if (site.fixture) return site.fixture;
  throw new Error(`${type} changes how lbdrill's own backend answers; ${site.name} is not one of lbdrill's backends (a deployed backend has stop, start, kill and pause hooks: faults stop, crash, hang)`);
}

/** What a fault may use besides its site. */
export interface FaultContext {
  /** seeds every random choice (toxicity, error rate, jitter) so a rerun sees the same faults. */
  seed: number;
  /** aborted when the run ends; long-running faults (flap) stop on it. */
  signal: AbortSignal;
}

/** A fault in effect. `undo` restores the site and is safe to call more than once. */
export interface AppliedFault {
  readonly type: FaultType;
  readonly site: string;
  /** one line for the timeline: "stop backend-api-1", "latency +200±50 ms downstream 100%". */
  readonly description: string;
  undo(): Promise<void>;
}

/** The settings every fault takes; backend faults reject `stream` and use `toxicity` where it means something. */
export interface FaultSettings<A> {
  attributes: A;
  stream: FaultStream;
  toxicity: number;
}

/** One kind of fault: its typed attributes and how to apply it. */
export interface FaultKind<A = unknown> {
  readonly type: FaultType;
  readonly layer: FaultLayer;
  readonly title: string;
  /** validates the `attributes` object of a scenario or CLI; every field has its unit in its name. */
  readonly attributes: z.ZodType<A, z.ZodTypeDef, unknown>;
  apply(site: FaultSite, settings: FaultSettings<A>, ctx: FaultContext): Promise<AppliedFault>;
}
