import { fail, pass, type Check } from './check.ts';
import { DrillProblem } from './failover-sequence.ts';
import { answeredBy, nodeMap } from './node-map-support.ts';

/** Seed 002 in small numbers (the bundled configs: maxconn 4, maxqueue 4). */
const MAX_CONN = 4;
const MAX_QUEUE = 4;
const EXTRA = 4;
/** Each request holds its server this long, so the slots stay full while the extras arrive. */
const HOLD_MS = 1500;
/** An extra request beyond the queue must be refused quickly, well before a slot frees. */
const FAST_REFUSAL_MS = 1000;

/**
 * Seed 002 (`server ... maxconn M maxqueue Q`): M+Q slow concurrent requests for one master
 * are all served (M at once, Q queued and never lost); the ones beyond get a 503 quickly.
 */
export const queueMaxconnMaxqueue: Check = {
  id: 'queue.maxconn-maxqueue',
  title: 'maxconn + maxqueue: M+Q slow requests are served, the rest get a quick 503',
  severity: 'must',
  needs: ['server-queue'],
  async run(ctx) {
    const expected = `(${MAX_CONN} + ${MAX_QUEUE}) concurrent slow requests per master all 200 (in slots or queued, none lost); ${EXTRA} more get 503 within ${FAST_REFUSAL_MS} ms`;
    try {
      const map = nodeMap(ctx);
      // Every master full: with redispatch an overflow may go to another master, so the
      // gateway as a whole must be at capacity before anything is refused.
      const masters = [...new Set(Object.values(map.entries))];
      const nodeFor = (master: string) => Object.entries(map.entries).find(([, m]) => m === master)![0];
      const capacity = masters.length * (MAX_CONN + MAX_QUEUE);
      const send = (i: number, node: string) =>
        ctx.client.send(ctx.app, { path: `/puppet/v3/catalog/${node}?q=${i}`, headers: ctx.tag(ctx.nextId(), { [map.header]: node, 'x-lbdrill-delay-ms': String(HOLD_MS) }), timeoutMs: 30_000 }, { fresh: true });
      const first = Array.from({ length: capacity }, (_, i) => send(i, nodeFor(masters[i % masters.length]!)));
      // let the first batch occupy the slots and the queue before the extras arrive
      await new Promise((r) => setTimeout(r, 300));
      const extras = Array.from({ length: EXTRA }, (_, i) => send(100 + i, nodeFor(masters[i % masters.length]!)));
      const [a, b] = await Promise.all([Promise.all(first), Promise.all(extras)]);
      const served = a.filter((r) => r.status === 200).length;
      const refused = b.filter((r) => r.status === 503 && r.durationMs < FAST_REFUSAL_MS).length;
      const evidence = {
        first: a.map((r) => ({ status: r.status ?? r.error?.kind, ms: Math.round(r.durationMs), by: answeredBy(ctx, map, r) })),
        extras: b.map((r) => ({ status: r.status ?? r.error?.kind, ms: Math.round(r.durationMs), by: answeredBy(ctx, map, r) })),
      };
      if (served < capacity) return fail(expected, `only ${served} of ${capacity} slot+queue requests were served`, evidence);
      if (refused < EXTRA) return fail(expected, `${EXTRA - refused} of ${EXTRA} requests beyond the queue were not refused quickly (${b.map((r) => `${r.status ?? r.error?.kind} in ${Math.round(r.durationMs)} ms`).join(', ')})`, evidence);
      return pass(expected, `${served}/${capacity} served across ${masters.length} masters (queued ones waited), ${refused}/${EXTRA} extras refused with 503 in under ${FAST_REFUSAL_MS} ms`, evidence);
    } catch (err) {
      if (err instanceof DrillProblem) return fail(expected, err.message);
      throw err;
    }
  },
};
