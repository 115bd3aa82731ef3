import { formatMs } from '../duration.ts';
import { budgetMs, fail, pass, type Check } from './check.ts';
import { describeDetection, drillEvidence } from './failover-evidence.ts';
import { runFailoverDrill } from './failover-sequence.ts';

/** Once the LB knows a server is dead, no client may see an error because of it. */
export const failoverNoErrorsAfterDetect: Check = {
  id: 'failover.no-errors-after-detect',
  title: 'no client errors once the killed server is detected',
  severity: 'must',
  needs: [],
  needsPool: true,
  disruptive: true,
  async run(ctx) {
    const expected = 'every probe request sent after the killed server was detected succeeds (2xx), while it stays down';
    const drill = await runFailoverDrill(ctx);
    const m = drill.measurement;
    const evidence = drillEvidence(ctx, drill);
    if (m.detectMs === null) return fail(expected, drill.problem ?? 'the killed server was never detected', evidence);
    const kinds = Object.entries(m.errorsByKind).map(([k, n]) => `${n}x ${k}`).join(', ');
    const before = m.clientErrors - m.errorsAfterDetect;
    const window = m.firstErrorMs === null ? '' : ` between +${formatMs(m.firstErrorMs)} and +${formatMs(m.lastErrorMs!)}`;
    if (m.errorsAfterDetect === 0) {
      return pass(expected, `0 errors after detection at ${describeDetection(drill)}; ${before} before it${kinds ? ` (${kinds}${window})` : ''}, of ${m.requests} probes during the outage`, evidence);
    }
    const at = m.detectSource === 'traffic' ? `the detect budget (${formatMs(budgetMs(ctx, 'detect'))}; no DOWN report from the LB, detection is judged from traffic)` : `detection at ${formatMs(m.detectMs)}`;
    return fail(expected, `${m.errorsAfterDetect} of ${m.requests} probes failed after ${at} (${kinds}${window})`, evidence);
  },
};
