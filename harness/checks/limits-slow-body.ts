import type { Check } from './check.ts';
import { fail, pass } from './check.ts';
import { hostHeader } from '../client/lb-client.ts';
import { describeLimit, effectiveLimit, limitsContract, listenerLimits } from '../contracts/limits.ts';
import { contractPool } from '../contracts/pools.ts';
import { formatMs } from '../duration.ts';
import { slowClientDrill } from './slow-client-drill.ts';

/** The body the request announces, and the part the client sends before it stalls. */
const DECLARED_BODY_BYTES = 4096;
const SENT_BODY_BYTES = 512;

/**
 * limits.slow-body: a request whose body stalls after its first bytes is cut (an answer such as
 * 408, or the connection closed) within the listener's body read timeout (the config's, capped
 * by the profile's maximum) + the profile's tolerance, counted from the client's last byte;
 * other clients are served all along. A backend may have seen the start of it (the LB streamed
 * it) and then its abort, never a complete request.
 */
export const limitsSlowBody: Check = {
  id: 'limits.slow-body',
  title: 'a body that stalls is cut within the body read timeout; others are served meanwhile',
  severity: 'must',
  needs: [],
  needsPool: true,
  async run(ctx) {
    const pool = contractPool(ctx);
    const limits = listenerLimits(ctx);
    const contract = limitsContract(ctx);
    const { value: timeoutMs, capped } = effectiveLimit(limits.bodyTimeoutMs, contract.bodyTimeoutMaxMs);
    const budgetMs = timeoutMs + contract.toleranceMs;
    const id = ctx.nextId();
    const head = `POST ${pool.pathPrefix}slow-body HTTP/1.1\r\nHost: ${hostHeader(ctx.app)}\r\nX-Lbdrill-Id: ${id}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${DECLARED_BODY_BYTES}\r\n\r\n`;
    const bytes = Buffer.concat([Buffer.from(head, 'latin1'), Buffer.alloc(SENT_BODY_BYTES, 0x61)]);
    const drill = await slowClientDrill(ctx, pool, { head: bytes, drip: Buffer.alloc(0), dripIntervalMs: 0, deadlineMs: budgetMs + 500 });
    const { slow } = drill;
    const stalledMs = slow.cutAtMs === undefined ? undefined : slow.cutAtMs - slow.lastWriteAtMs;
    const limitText = `${describeLimit(limits.bodyTimeoutMs, 'ms')}${capped ? `, capped at the profile's ${formatMs(contract.bodyTimeoutMaxMs)}` : ''}`;
    const expected = `a body stalled after ${SENT_BODY_BYTES} of ${DECLARED_BODY_BYTES} B cut within ${formatMs(timeoutMs)} (${limitText}) + ${formatMs(contract.toleranceMs)} = ${formatMs(budgetMs)} of silence, no complete request at a backend, every probe of ${pool.probePath} answered meanwhile`;
    const backendSaw = drill.reached.length === 0 ? 'nothing (the LB buffers bodies)' : drill.reached.map((r) => `${r.backend}: ${r.bodyBytes} B then ${r.completed ? 'complete' : r.aborted ? 'aborted' : 'still open'}`).join('; ');
    const evidence = { limit: limits.bodyTimeoutMs, timeoutMs, cappedByProfile: capped, toleranceMs: contract.toleranceMs, stalledMs, backendSaw, ...drill };
    const how = slow.outcome === 'answered' ? `answered ${slow.status}` : slow.outcome;
    if (stalledMs === undefined || stalledMs > budgetMs) {
      return fail(expected, `still open after ${formatMs(budgetMs)} of silence${capped ? `: the config allows ${limitText}` : ''}; backend saw ${backendSaw}`, evidence);
    }
    const complete = drill.reached.find((r) => r.completed);
    if (complete) return fail(expected, `${complete.backend} received a complete ${complete.method} ${complete.rawPath} (${complete.bodyBytes} B) of a body the client never finished`, evidence);
    if (drill.failedProbes > 0) return fail(expected, `${drill.failedProbes} of ${drill.probes.length} probes got no backend answer while the body stalled`, evidence);
    return pass(expected, `${how} after ${formatMs(stalledMs)} of silence, ${drill.probes.length} probes answered meanwhile; backend saw ${backendSaw}`, evidence);
  },
};
