import { formatMs } from '../duration.ts';
import { budgetMs, fail, pass, type Check } from './check.ts';
import { describeDetection, drillEvidence } from './failover-evidence.ts';
import { runFailoverDrill } from './failover-sequence.ts';

/** Seed 001's drill: kill a primary; the LB must stop using it within the detect budget. */
export const failoverDetectWithinBudget: Check = {
  id: 'failover.detect-within-budget',
  title: 'a killed server is taken out of rotation within the detect budget',
  severity: 'must',
  needs: ['active-health-checks'],
  needsPool: true,
  disruptive: true,
  async run(ctx) {
    const budget = budgetMs(ctx, 'detect');
    const expected = `the LB stops sending traffic to a killed server within ${formatMs(budget)} (${ctx.failover.budgetSources['detect'] ?? 'default'})`;
    const drill = await runFailoverDrill(ctx);
    const m = drill.measurement;
    const evidence = drillEvidence(ctx, drill);
    if (m.detectMs === null || (drill.problem && m.lbDownMs === null)) return fail(expected, drill.problem ?? 'the killed server was never taken out of rotation', evidence);
    const observed = `${drill.victim} out of rotation after ${describeDetection(drill)}; ${m.clientErrors} client errors during the outage`;
    return m.detectMs <= budget ? pass(expected, observed, evidence) : fail(expected, `${observed}: over budget by ${formatMs(m.detectMs - budget)}`, evidence);
  },
};
