import { formatMs } from '../duration.ts';
import { budgetMs, fail, pass, type Check } from './check.ts';
import { drillEvidence } from './failover-evidence.ts';
import { runFailoverDrill } from './failover-sequence.ts';

/** A restarted server is back in rotation within the rejoin budget. */
export const failoverRejoinWithinBudget: Check = {
  id: 'failover.rejoin-within-budget',
  title: 'a restarted server gets traffic again within the rejoin budget',
  severity: 'must',
  needs: [],
  needsPool: true,
  disruptive: true,
  async run(ctx) {
    const budget = budgetMs(ctx, 'rejoin');
    const expected = `the restarted server answers probe traffic within ${formatMs(budget)} of its restart (${ctx.failover.budgetSources['rejoin'] ?? 'default'})`;
    const drill = await runFailoverDrill(ctx);
    const m = drill.measurement;
    const evidence = drillEvidence(ctx, drill);
    if (m.rejoinMs === null) return fail(expected, drill.problem ?? `${drill.victim} never got traffic again`, evidence);
    const lb = m.lbUpMs === null ? '' : `; the LB reported it UP after ${formatMs(m.lbUpMs)}`;
    const observed = `${drill.victim} answered again ${formatMs(m.rejoinMs)} after its restart${lb}`;
    return m.rejoinMs <= budget ? pass(expected, observed, evidence) : fail(expected, `${observed}: over budget by ${formatMs(m.rejoinMs - budget)}`, evidence);
  },
};
