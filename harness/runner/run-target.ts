import { startBackend, type StartedBackend } from '../../fixtures/backend/index.ts';
import type { Check, CheckContext, CheckOutcome, CheckResult, ModeSettings, Severity } from '../checks/check.ts';
import { LbClient } from '../client/lb-client.ts';
import { LbdrillError } from '../errors.ts';
import type { ManagedProcess } from '../process/managed-process.ts';
import { waitForPorts } from './ports.ts';
import type { PreparedTarget } from './prepare-target.ts';
import { RequestIndex } from './request-index.ts';

/** Address lbdrill's client connects from: distinct from the LB's own, so X-Forwarded-For is provable. */
export const CLIENT_ADDRESS = '127.0.9.9';
const START_TIMEOUT_MS = 15_000;
/** Upper bound for one check; a check that runs longer ends as `error`. */
const CHECK_TIMEOUT_MS = 10 * 60_000;

/** A check as a profile lists it: which one, and how much it matters there. */
export interface PlannedCheck {
  check: Check;
  severity: Severity;
}

/** Progress events for the terminal view. */
export type RunEvent =
  | { type: 'target-start'; target: string; detail: string }
  | { type: 'check-start'; target: string; check: string }
  | { type: 'check-progress'; target: string; check: string; message: string }
  | { type: 'check-done'; result: CheckResult };

export interface TargetRun {
  results: CheckResult[];
  /** set when the LB under test died during the run. */
  crashed?: string;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LbdrillError('LBDRILL_ERR_TIMEOUT', `${what} did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
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
  onEvent: (event: RunEvent) => void;
}): Promise<TargetRun> {
  const { prepared, settings, onEvent } = options;
  const targetName = prepared.spec.name;
  const backends: StartedBackend[] = [];
  let lb: ManagedProcess | undefined;
  const client = new LbClient({ ca: options.caPem, localAddress: CLIENT_ADDRESS });
  let index: RequestIndex | undefined;
  const results: CheckResult[] = [];
  let crashed: string | undefined;
  try {
    for (const plan of prepared.backends) backends.push(await startBackend({ id: plan.id, host: plan.host, port: plan.port }));
    index = new RequestIndex(backends);
    onEvent({ type: 'target-start', target: targetName, detail: `starting ${prepared.version}` });
    lb = prepared.kind.spawn(prepared.target);
    const started = lb;
    if (prepared.kind.waitReady) await prepared.kind.waitReady(started, prepared.target);
    else await waitForPorts(started, prepared.endpoints.map((e) => e.port), START_TIMEOUT_MS);
    started.on('exit', () => {
      if (started.unexpectedExit) crashed = `${started.label} exited unexpectedly (code ${started.exitCode}, signal ${started.exitSignal}): ${started.tail(3).join(' | ')}`;
    });

    const app = prepared.endpoints.find((e) => e.tls) ?? prepared.endpoints[0];
    if (!app) throw new LbdrillError('LBDRILL_ERR_TARGET_START', `${prepared.target.sourceFile} has no listener lbdrill can send traffic to`);
    const bindings = prepared.backends.map((plan, i) => ({ backend: backends[i]!, upstream: plan.upstream }));
    const requests = index;

    const runOne = async (planned: PlannedCheck): Promise<CheckResult> => {
      const { check, severity } = planned;
      const base = { check: check.id, title: check.title, target: targetName, severity };
      const missing = check.needs.map((f) => prepared.kind.unsupported[f]).find((reason) => reason !== undefined);
      if (missing) {
        return { ...base, status: 'unsupported', durationMs: 0, expected: check.title, observed: missing, evidence: { needs: check.needs } };
      }
      if (crashed) return { ...base, status: 'error', durationMs: 0, expected: check.title, observed: crashed, evidence: {} };
      onEvent({ type: 'check-start', target: targetName, check: check.id });
      let counter = 0;
      const controller = new AbortController();
      const ctx: CheckContext = {
        target: { name: targetName, version: prepared.version },
        app,
        endpoints: prepared.endpoints,
        backends: bindings,
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
      };
      const t0 = performance.now();
      let outcome: CheckOutcome | undefined;
      let error: string | undefined;
      try {
        outcome = await withTimeout(check.run(ctx), CHECK_TIMEOUT_MS, check.id);
      } catch (err) {
        error = (err as Error).message;
      } finally {
        controller.abort();
      }
      const durationMs = Math.round(performance.now() - t0);
      // A check that "failed" because the LB died is an error of the run, not a verdict on the config.
      if (crashed && outcome?.status !== 'pass') error = crashed;
      const result: CheckResult = error
        ? { ...base, status: 'error', durationMs, expected: check.title, observed: error, evidence: outcome?.evidence ?? {} }
        : { ...base, status: outcome!.status, durationMs, expected: outcome!.expected, observed: outcome!.observed, evidence: outcome!.evidence };
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
    await client.close();
    await lb?.stop();
    await Promise.allSettled(backends.map((b) => b.close()));
  }
  return { results, ...(crashed ? { crashed } : {}) };
}
