import { z } from 'zod';
import { applyToxic } from './apply-toxic.ts';
import type { FaultKind } from './fault.ts';
import type { ToxicAttributes } from './fault-proxy.ts';

const attributes = z
  .object({
    /** from the moment the fault hits a connection to its close (FIN both ways); 0 never closes. */
    timeoutMs: z.number().int().min(0).max(3_600_000).default(0),
  })
  .strict();

/**
 * toxiproxy `timeout`: no data passes in the stream (a blackhole), and the connection closes
 * after timeoutMs. Unlike toxiproxy, which drops the data, the proxy holds it and TCP pushes
 * back on the sender; undo lets it flow on intact, so a keep-alive stream stays valid.
 */
export const timeoutFault: FaultKind<ToxicAttributes['timeout']> = {
  type: 'timeout',
  layer: 'network',
  title: 'Blackhole the data between LB and backend',
  attributes,
  async apply(site, { attributes: a, stream, toxicity }, ctx) {
    const detail = a.timeoutMs === 0 ? 'blackhole, never closes' : `blackhole, closes after ${a.timeoutMs} ms`;
    return applyToxic(site, { type: 'timeout', stream, toxicity, seed: ctx.seed, attributes: a }, detail);
  },
};
