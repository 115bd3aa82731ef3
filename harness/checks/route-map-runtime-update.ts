import { formatMs } from '../duration.ts';
import { isClientError, nowMs } from '../probe/probe-stream.ts';
import { fail, pass, type Check } from './check.ts';
import { DrillProblem, waitForProbe } from './failover-sequence.ts';
import { nodeMap } from './node-map-support.ts';

/** How long traffic may take to follow a map change before the check gives up. */
const FOLLOW_TIMEOUT_MS = 10_000;
/** Probes after the switch that must all go to the new master. */
const SETTLED = 100;

/**
 * Seed 002: the map updater moves a node to another master through the runtime API
 * (HAProxy `set map`, reference LB admin API). Measured: time until traffic for that node
 * follows, and requests dropped during the change (must be zero).
 */
export const routeMapRuntimeUpdate: Check = {
  id: 'route.map-runtime-update',
  title: 'a map entry changed at run time: traffic follows, no request dropped',
  severity: 'must',
  needs: ['runtime-map', 'runtime-api'],
  disruptive: true,
  async run(ctx) {
    const expected = `a node moved to another master through the runtime API: its traffic follows within ${formatMs(FOLLOW_TIMEOUT_MS)}, then stays; 0 requests dropped`;
    const runtime = ctx.runtime!;
    try {
      const map = nodeMap(ctx);
      const [node, from] = Object.entries(map.entries)[0]!;
      const to = Object.keys(map.targets).find((m) => m !== from)!;
      const addressOf = (master: string) => map.targets[master];
      const byBackend = (id: string | null) => ctx.backends.find((b) => b.backend.id === id)?.upstream.address;
      const mapRef = ctx.target.name === 'haproxy' ? map.renderedFile : map.referenceMap;
      if (!mapRef) throw new DrillProblem(`no map to update on ${ctx.target.name} (the config's copy of ${map.file} was not found)`);
      const probe = ctx.probe({ path: (seq) => `/puppet/v3/catalog/${node}?lbdrill-probe=${seq}`, headers: { [map.header]: node } });
      const steadyOk = await waitForProbe(probe, (s) => s.length >= 50 && s.slice(-50).every((x) => !isClientError(x) && byBackend(x.backend) === addressOf(from!)), 10_000, ctx.signal);
      if (!steadyOk) {
        await probe.stop();
        return fail(expected, `${node} was not steadily on ${from} before the change`);
      }
      const changeAtMs = nowMs();
      await runtime.setMapEntry(mapRef, node, to);
      const appliedMs = nowMs() - changeAtMs;
      let samples;
      try {
        await waitForProbe(probe, (s) => {
          const after = s.filter((x) => x.sentAtMs > changeAtMs);
          const firstNew = after.findIndex((x) => byBackend(x.backend) === addressOf(to));
          return firstNew >= 0 && after.length - firstNew >= SETTLED;
        }, FOLLOW_TIMEOUT_MS, ctx.signal);
        // stop measuring before the entry is put back
        samples = await probe.stop();
      } finally {
        await probe.stop();
        await runtime.setMapEntry(mapRef, node, from!).catch(() => undefined);
      }
      const after = samples.filter((x) => x.sentAtMs > changeAtMs);
      const firstNew = after.find((x) => byBackend(x.backend) === addressOf(to));
      const lastOld = after.filter((x) => byBackend(x.backend) === addressOf(from!)).at(-1);
      const droppedSamples = samples.filter((x) => x.sentAtMs >= changeAtMs && isClientError(x));
      const dropped = droppedSamples.length;
      // Traffic has followed once no request goes to the old master any more: the switch is
      // the last old answer (requests in flight while the change spreads may take either way).
      const followMs = firstNew ? (lastOld && lastOld.sentAtMs > firstNew.sentAtMs ? lastOld.sentAtMs : firstNew.sentAtMs) - changeAtMs : null;
      const backslid = after.slice(-SETTLED).filter((x) => byBackend(x.backend) !== addressOf(to)).length;
      const evidence = { node, from, to, map: mapRef, apiCallMs: Math.round(appliedMs), followMs: followMs === null ? null : Math.round(followMs), lastOldMs: lastOld ? Math.round(lastOld.sentAtMs - changeAtMs) : null, dropped, backslid, probes: samples.length, resolutionMs: probe.intervalMs, backendsSeen: [...new Set(after.map((x) => x.backend))], droppedRequests: droppedSamples.slice(0, 10).map((x) => ({ atMs: Math.round(x.sentAtMs - changeAtMs), status: x.status, error: x.error })) };
      if (followMs === null) return fail(expected, `${node}'s traffic never reached ${to} within ${formatMs(FOLLOW_TIMEOUT_MS)}`, evidence);
      if (dropped > 0) return fail(expected, `${dropped} requests dropped during the change`, evidence);
      if (backslid > 0) return fail(expected, `${backslid} of the last ${SETTLED} requests still went to ${from}`, evidence);
      return pass(expected, `${node}: ${from} -> ${to} via ${runtime.title}; traffic followed after ${formatMs(followMs)} (API call ${formatMs(appliedMs)}, ±${formatMs(probe.intervalMs)}), 0 dropped of ${samples.length}`, evidence);
    } catch (err) {
      if (err instanceof DrillProblem) return fail(expected, err.message);
      throw err;
    }
  },
};
