import { formatMs } from '../duration.ts';
import { nowMs } from '../probe/probe-stream.ts';
import { budgetMs, fail, pass, type Check } from './check.ts';
import { failoverPool, steadyProbe, waitForProbe } from './failover-sequence.ts';

/** Probes with every primary up that must not reach a backup. */
const PROBES_WITH_PRIMARIES = 200;

/** A backup server takes traffic only when every primary is down. */
export const backupOnlyWhenPrimariesDown: Check = {
  id: 'backup.only-when-primaries-down',
  title: 'the backup server gets traffic only when all primaries are down',
  severity: 'must',
  needs: ['backup-servers'],
  needsPool: true,
  disruptive: true,
  async run(ctx) {
    const detect = budgetMs(ctx, 'detect');
    const expected = `no request reaches a backup while a primary is up; with all primaries killed, the backup serves within ${formatMs(detect)} (detect budget)`;
    const { pool } = failoverPool(ctx);
    const backup = pool.backups[0];
    if (!backup) return fail(expected, `pool ${pool.configName} has no backup server (HAProxy/nginx \`backup\`, Apache \`status=+H\`)`);
    const probe = await steadyProbe(ctx, pool);
    const startSeq = probe.samples.length;
    await waitForProbe(probe, (s) => s.length >= startSeq + PROBES_WITH_PRIMARIES, 30_000, ctx.signal);
    const before = probe.samples.slice(0, startSeq + PROBES_WITH_PRIMARIES);
    const leaked = before.filter((s) => s.backend === backup.backend.id).length;
    const faultAtMs = nowMs();
    for (const primary of pool.primaries) await ctx.faults.apply({ type: 'stop' }, ctx.site(primary));
    ctx.progress(`all ${pool.primaries.length} primaries stopped; waiting for ${backup.backend.id}`);
    const served = await waitForProbe(probe, (s) => s.some((x) => x.sentAtMs >= faultAtMs && x.backend === backup.backend.id), detect * 3, ctx.signal);
    const samples = await probe.stop();
    const first = samples.find((x) => x.sentAtMs >= faultAtMs && x.backend === backup.backend.id);
    const afterMs = first ? Math.round(first.sentAtMs - faultAtMs) : null;
    const evidence = { backup: backup.backend.id, probesWithPrimariesUp: before.length, onBackupWhilePrimariesUp: leaked, backupServedAfterMs: afterMs, detectBudgetMs: detect };
    if (leaked > 0) return fail(expected, `${leaked} of ${before.length} requests reached backup ${backup.backend.id} while the primaries were up`, evidence);
    if (!served || afterMs === null) return fail(expected, `backup ${backup.backend.id} never served with all primaries down`, evidence);
    if (afterMs > detect) return fail(expected, `backup ${backup.backend.id} served only ${formatMs(afterMs)} after the primaries died`, evidence);
    return pass(expected, `0 of ${before.length} requests on ${backup.backend.id} while primaries were up; it served ${formatMs(afterMs)} after all primaries died`, evidence);
  },
};
