import { setTimeout as sleep } from 'node:timers/promises';
import type { RecordedRequest } from '../../fixtures/backend/index.ts';
import { sendSlowly, type SlowRequestResult } from '../client/slow-client.ts';
import type { CheckContext, PoolBinding } from './check.ts';
import { ownBackend } from './check.ts';

/** One request of another client while the slow one holds its connection. */
interface ProbeSample {
  atMs: number;
  status: number | string;
  backend: string | null;
  durationMs: number;
}

/** What a slow client did to the LB, and what everyone else saw meanwhile. */
export interface SlowClientDrill {
  slow: SlowRequestResult;
  /** the drip interval, when the head was sent a byte at a time. */
  dripIntervalMs?: number;
  probes: ProbeSample[];
  /** probes without a backend answer. */
  failedProbes: number;
  /** what the backends recorded of the slow request (by its X-Lbdrill-Id, or any request no probe sent). */
  reached: Array<Pick<RecordedRequest, 'backend' | 'method' | 'rawPath' | 'bodyBytes' | 'aborted'> & { completed: boolean }>;
}

/** Other clients ask this often while the slow one is on. */
const PROBE_INTERVAL_MS = 250;
const PROBE_TIMEOUT_MS = 3000;
/** After the cut, how long the backend may take to see its upstream request end. */
const SETTLE_MS = 2000;

/**
 * Runs one slow client (sendSlowly) against the LB with another client probing `pool` all along,
 * and lists every request the backends recorded meanwhile that no probe sent: what of the slow
 * request reached a backend, with its end (aborted or completed) once the LB let go of it.
 */
export async function slowClientDrill(ctx: CheckContext, pool: PoolBinding, options: { head: Buffer; drip: Buffer; dripIntervalMs: number; deadlineMs: number }): Promise<SlowClientDrill> {
  const fixtures = ctx.backends.map((b) => ownBackend(b));
  const before = new Map(fixtures.map((f) => [f, f.requests.length]));
  const probeIds = new Set<string>();
  const probes: ProbeSample[] = [];
  const started = performance.now();
  let done = false;
  const slow = sendSlowly({ endpoint: ctx.app, ca: ctx.caPem, ...(ctx.client.localAddress ? { localAddress: ctx.client.localAddress } : {}), ...options, signal: ctx.signal }).finally(() => {
    done = true;
  });
  const stopped = slow.then(() => undefined, () => undefined);
  while (!done) {
    const id = ctx.nextId();
    probeIds.add(id);
    const atMs = performance.now() - started;
    const res = await ctx.client.send(ctx.app, { path: pool.probePath, headers: ctx.tag(id), timeoutMs: PROBE_TIMEOUT_MS });
    const backend = res.headers['x-lbdrill-backend'];
    probes.push({ atMs: Math.round(atMs), status: res.status ?? res.error?.kind ?? 'no response', backend: typeof backend === 'string' ? backend : null, durationMs: Math.round(res.durationMs) });
    await Promise.race([sleep(PROBE_INTERVAL_MS), stopped]);
  }
  const result = await slow;
  const fresh = (): RecordedRequest[] => fixtures.flatMap((f) => f.requests.slice(before.get(f) ?? 0)).filter((r) => !r.health && (r.lbdrillId === undefined || !probeIds.has(r.lbdrillId)));
  const open = fresh().filter((r) => !r.aborted && r.completedAtMs === undefined);
  // A request the LB let go of ends at the backend (aborted, or completed if it was forwarded whole).
  await Promise.all(
    open.map((r) => {
      const f = fixtures.find((x) => x.id === r.backend);
      return f?.waitForRequest((x) => x === r && (x.aborted || x.completedAtMs !== undefined), SETTLE_MS).catch(() => undefined);
    }),
  );
  return {
    slow: result,
    ...(options.drip.length > 0 ? { dripIntervalMs: options.dripIntervalMs } : {}),
    probes,
    failedProbes: probes.filter((p) => p.backend === null).length,
    reached: fresh().map((r) => ({ backend: r.backend, method: r.method, rawPath: r.rawPath, bodyBytes: r.bodyBytes, aborted: r.aborted, completed: r.completedAtMs !== undefined })),
  };
}
