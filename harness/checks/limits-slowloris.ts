import type { Check } from './check.ts';
import { fail, pass } from './check.ts';
import { hostHeader } from '../client/lb-client.ts';
import { describeLimit, effectiveLimit, limitsContract, listenerLimits } from '../contracts/limits.ts';
import { contractPool } from '../contracts/pools.ts';
import { formatMs } from '../duration.ts';
import { slowClientDrill } from './slow-client-drill.ts';

/** One byte of the request head every this often: far below any LB's idea of a live client (10 B/s). */
const DRIP_INTERVAL_MS = 100;

/**
 * limits.slowloris: a request head sent a byte at a time, never finished, is cut (an answer such
 * as 408, or the connection closed) within the listener's header timeout (the config's, capped by
 * the profile's maximum) + the profile's tolerance, counted from the connection; nothing of it
 * reaches a backend; other clients are served all along.
 */
export const limitsSlowloris: Check = {
  id: 'limits.slowloris',
  title: 'a head sent a byte at a time is cut within the header timeout; others are served meanwhile',
  severity: 'must',
  needs: [],
  needsPool: true,
  async run(ctx) {
    const pool = contractPool(ctx);
    const limits = listenerLimits(ctx);
    const contract = limitsContract(ctx);
    const { value: timeoutMs, capped } = effectiveLimit(limits.headerTimeoutMs, contract.headerTimeoutMaxMs);
    const budgetMs = timeoutMs + contract.toleranceMs;
    const id = ctx.nextId();
    // Longer than the client can drip before its deadline, so the head never ends.
    const head = `GET ${pool.pathPrefix}slowloris HTTP/1.1\r\nHost: ${hostHeader(ctx.app)}\r\nX-Lbdrill-Id: ${id}\r\nX-Lbdrill-Pad: ${'a'.repeat(Math.ceil(budgetMs / DRIP_INTERVAL_MS) + 64)}`;
    const drill = await slowClientDrill(ctx, pool, { head: Buffer.alloc(0), drip: Buffer.from(head, 'latin1'), dripIntervalMs: DRIP_INTERVAL_MS, deadlineMs: budgetMs + DRIP_INTERVAL_MS });
    const { slow } = drill;
    const limitText = `${describeLimit(limits.headerTimeoutMs, 'ms')}${capped ? `, capped at the profile's ${formatMs(contract.headerTimeoutMaxMs)}` : ''}`;
    const expected = `a head dripped at 1 B / ${DRIP_INTERVAL_MS} ms cut within ${formatMs(timeoutMs)} (${limitText}) + ${formatMs(contract.toleranceMs)} = ${formatMs(budgetMs)}, nothing reaching a backend, every probe of ${pool.probePath} answered meanwhile`;
    const evidence = { limit: limits.headerTimeoutMs, timeoutMs, cappedByProfile: capped, toleranceMs: contract.toleranceMs, ...drill };
    const how = slow.outcome === 'answered' ? `answered ${slow.status}` : slow.outcome;
    if (slow.cutAtMs === undefined || slow.cutAtMs > budgetMs) {
      return fail(expected, `still open after ${formatMs(budgetMs)} (${slow.bytesSent} B sent)${capped ? `: the config allows ${limitText}` : ''}`, evidence);
    }
    if (drill.reached.length > 0) return fail(expected, `${drill.reached[0]?.method} ${drill.reached[0]?.rawPath} reached ${drill.reached[0]?.backend} while the head was still incomplete`, evidence);
    if (drill.failedProbes > 0) return fail(expected, `${drill.failedProbes} of ${drill.probes.length} probes got no backend answer while the slow client was on`, evidence);
    return pass(expected, `${how} after ${formatMs(slow.cutAtMs)} (${slow.bytesSent} B sent), ${drill.probes.length} probes answered meanwhile, nothing reached a backend`, evidence);
  },
};
