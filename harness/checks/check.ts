import type { LbClient, Endpoint } from '../client/lb-client.ts';
import type { Feature, TargetName } from '../targets/target-kind.ts';
import type { StartedBackend, RecordedRequest } from '../../fixtures/backend/index.ts';
import type { UpstreamRef } from '../targets/config-plan.ts';

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

/** A test backend together with the upstream line of the config it stands for. */
export interface BackendBinding {
  backend: StartedBackend;
  upstream: UpstreamRef;
}

/** Everything a check may use; it talks to the LB only through `client` and observes backends directly. */
export interface CheckContext {
  target: { name: TargetName; version: string };
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
}

/** A conformance check is data: an id, a title, what it needs from the target, and a test. */
export interface Check {
  readonly id: string;
  readonly title: string;
  readonly severity: Severity;
  /** features the target must be able to express; otherwise the result is `unsupported`. */
  readonly needs: readonly Feature[];
  /** runs alone, after every other check (it stops backends or otherwise disturbs the target). */
  readonly disruptive?: boolean;
  /** may run concurrently with other non-disruptive checks (long waits, like idle gaps). */
  readonly background?: boolean;
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
