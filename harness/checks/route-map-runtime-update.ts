import { formatMs } from '../duration.ts';
import { isClientError, nowMs } from '../probe/probe-stream.ts';
import type { MapChangeDetails, MapUpdater } from '../runtime/map-updater.ts';
import { fail, pass, type Check, type CheckContext } from './check.ts';
import type { NodeMapContract } from '../contracts/node-map.ts';
import { waitForProbe } from './failover-sequence.ts';
import { answeredBy, askFor } from './node-map-support.ts';
import { nodeMap } from '../contracts/node-map.ts';

/** How long traffic may take to follow a map change before the check gives up. */
const FOLLOW_TIMEOUT_MS = 10_000;
/** Probes after the switch that must all go to the new master. */
const SETTLED = 100;
/** Steady probes on the old master before the change. */
const STEADY = 50;
/** Pause between the requests that confirm the entry was put back. */
const UNDO_POLL_MS = 20;

/**
 * Seed 002: the map updater moves a node to another master the way it does on each LB (HAProxy
 * `set map` on the stats socket, the reference LB's admin API, nginx a rewritten map include and
 * a graceful reload, Apache a rewritten RewriteMap txt: file). Measured while a probe stream runs:
 * time until traffic for that node follows, and requests dropped during the change (must be 0).
 * The entry is then put back the same way, after the measurement.
 *
 * A probe that meets a reused keep-alive connection the LB closes before answering (nginx's old
 * workers close their idle client connections on a graceful reload, and a request may be on its
 * way just then) is sent once more, as RFC 9112 §9.3.1 allows for idempotent requests and as
 * browsers do; it is not dropped, but counted and shown (`retried`). A request that fails
 * otherwise, or again, is dropped.
 */
export const routeMapRuntimeUpdate: Check = {
  id: 'route.map-runtime-update',
  title: 'a map entry changed at run time: traffic follows, no request dropped',
  severity: 'must',
  needs: ['runtime-map'],
  needsPool: true,
  disruptive: true,
  async run(ctx) {
    const expected = `a node moved to another master the way the map updater does it on this LB: its traffic follows within ${formatMs(FOLLOW_TIMEOUT_MS)}, then stays; 0 requests dropped`;
    const map = nodeMap(ctx);
    const updater = ctx.mapUpdater;
    if (!updater) {
      const named = map.map === undefined ? 'the profile names no node map for this target' : `the config names no ${map.map}${ctx.target.name === 'reference' ? ' map with an admin API' : ''}`;
      return fail(expected, `nothing for the map updater to change: ${named}`, { map: map.map ?? null });
    }
    const [node, from] = Object.entries(map.entries)[0]!;
    const to = Object.keys(map.targets).find((m) => m !== from)!;
    const addressOf = (master: string) => map.targets[master];
    const byBackend = (id: string | null) => ctx.backends.find((b) => b.backend.id === id)?.upstream.address;
    const probe = ctx.probe({ path: (seq) => `/puppet/v3/catalog/${node}?lbdrill-probe=${seq}`, headers: { [map.header]: node }, retryOnKeepAliveClose: true });
    const steadyOk = await waitForProbe(probe, (s) => s.length >= STEADY && s.slice(-STEADY).every((x) => !isClientError(x) && byBackend(x.backend) === addressOf(from!)), 10_000, ctx.signal);
    if (!steadyOk) {
      await probe.stop();
      return fail(expected, `${node} was not steadily on ${from} before the change`);
    }
    const changeAtMs = nowMs();
    let change: MapChangeDetails;
    let appliedMs: number;
    let samples;
    try {
      change = await updater.set(node, to);
      appliedMs = nowMs() - changeAtMs;
      await waitForProbe(probe, (s) => {
        const after = s.filter((x) => x.sentAtMs > changeAtMs);
        const firstNew = after.findIndex((x) => byBackend(x.backend) === addressOf(to));
        return firstNew >= 0 && after.length - firstNew >= SETTLED;
      }, FOLLOW_TIMEOUT_MS, ctx.signal);
      // stop measuring before the entry is put back
      samples = await probe.stop();
    } catch (err) {
      // the LB refused the change (nginx rejected the reload, HAProxy the command): leave the map as the config had it
      await probe.stop();
      await updater.set(node, from!).catch(() => undefined);
      throw err;
    }
    const undo = await putBack(ctx, map, updater, node, from!);
    const after = samples.filter((x) => x.sentAtMs > changeAtMs);
    const firstNew = after.find((x) => byBackend(x.backend) === addressOf(to));
    const lastOld = after.filter((x) => byBackend(x.backend) === addressOf(from!)).at(-1);
    const droppedSamples = samples.filter((x) => x.sentAtMs >= changeAtMs && isClientError(x));
    const dropped = droppedSamples.length;
    const retried = samples.filter((x) => x.sentAtMs >= changeAtMs && x.retried);
    // Traffic has followed once no request goes to the old master any more: the switch is
    // the last old answer (requests in flight while the change spreads may take either way).
    const followMs = firstNew ? (lastOld && lastOld.sentAtMs > firstNew.sentAtMs ? lastOld.sentAtMs : firstNew.sentAtMs) - changeAtMs : null;
    const backslid = after.slice(-SETTLED).filter((x) => byBackend(x.backend) !== addressOf(to)).length;
    const evidence = {
      node,
      from,
      to,
      how: updater.title,
      map: updater.map,
      applyMs: Math.round(appliedMs),
      change,
      followMs: followMs === null ? null : Math.round(followMs),
      lastOldMs: lastOld ? Math.round(lastOld.sentAtMs - changeAtMs) : null,
      dropped,
      retried: retried.length,
      retriedRequests: retried.slice(0, 10).map((x) => ({ atMs: Math.round(x.sentAtMs - changeAtMs), latencyMs: Math.round(x.latencyMs), status: x.status })),
      backslid,
      probes: samples.length,
      resolutionMs: probe.intervalMs,
      backendsSeen: [...new Set(after.map((x) => x.backend))],
      droppedRequests: droppedSamples.slice(0, 10).map((x) => ({ atMs: Math.round(x.sentAtMs - changeAtMs), latencyMs: Math.round(x.latencyMs), status: x.status, error: x.error })),
      undo,
    };
    if (followMs === null) return fail(expected, `${node}'s traffic never reached ${to} within ${formatMs(FOLLOW_TIMEOUT_MS)} (change made by ${updater.title})`, evidence);
    if (dropped > 0) return fail(expected, `${dropped} requests dropped during the change (${updater.title}): ${describeDrops(droppedSamples)}`, evidence);
    if (backslid > 0) return fail(expected, `${backslid} of the last ${SETTLED} requests still went to ${from}`, evidence);
    if ('error' in undo) return fail(expected, `the change worked, but putting ${node} back on ${from} the same way failed: ${undo.error}`, evidence);
    const reloadMs = (change['reload'] as { reloadMs?: number } | undefined)?.reloadMs;
    const applied = reloadMs === undefined ? `change applied in ${formatMs(appliedMs)}` : `change applied in ${formatMs(appliedMs)}, of which reload ${formatMs(reloadMs)}`;
    return pass(expected, `${node}: ${from} -> ${to} by ${updater.title}; traffic followed after ${formatMs(followMs)} (${applied}, ±${formatMs(probe.intervalMs)}), 0 dropped of ${samples.length}${retried.length > 0 ? ` (${retried.length} sent again after the LB closed their keep-alive connection unanswered, as RFC 9112 §9.3.1 allows)` : ''}`, evidence);
  },
};

/** Puts the entry back through the same updater and waits until a request for the node is answered by `from` again. */
async function putBack(ctx: CheckContext, map: NodeMapContract, updater: MapUpdater, node: string, from: string): Promise<{ applyMs: number; backAfterMs: number | null; change: MapChangeDetails } | { error: string }> {
  const t0 = nowMs();
  let change: MapChangeDetails;
  try {
    change = await updater.set(node, from);
  } catch (err) {
    return { error: (err as Error).message };
  }
  const applyMs = Math.round(nowMs() - t0);
  while (nowMs() - t0 < FOLLOW_TIMEOUT_MS && !ctx.signal.aborted) {
    const res = await askFor(ctx, map, node, {}, 5_000);
    if (answeredBy(ctx, map, res) === from) return { applyMs, backAfterMs: Math.round(nowMs() - t0), change };
    await new Promise((r) => setTimeout(r, UNDO_POLL_MS));
  }
  return { error: `${node} still not answered by ${from} ${formatMs(FOLLOW_TIMEOUT_MS)} after the entry was put back` };
}

/** "2 x closed-without-response, 1 x status 502" */
function describeDrops(samples: ReadonlyArray<{ status: number | null; error: string | null }>): string {
  const counts = new Map<string, number>();
  for (const s of samples) {
    const what = s.error ?? `status ${s.status}`;
    counts.set(what, (counts.get(what) ?? 0) + 1);
  }
  return [...counts].map(([what, n]) => `${n} x ${what}`).join(', ');
}
