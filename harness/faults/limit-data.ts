import { z } from 'zod';
import { applyToxic } from './apply-toxic.ts';
import type { FaultKind } from './fault.ts';
import type { ToxicAttributes } from './fault-proxy.ts';

const attributes = z
  .object({
    /** bytes the stream may carry, counted from when the fault hits the connection; no default, a limit has no neutral value. */
    bytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  })
  .strict();

/** toxiproxy `limit_data`: after `bytes` bytes in the stream the connection closes (FIN both ways). */
export const limitDataFault: FaultKind<ToxicAttributes['limit_data']> = {
  type: 'limit_data',
  layer: 'network',
  title: 'Close connections between LB and backend after a number of bytes',
  attributes,
  async apply(site, { attributes: a, stream, toxicity }, ctx) {
    return applyToxic(site, { type: 'limit_data', stream, toxicity, seed: ctx.seed, attributes: a }, `close after ${a.bytes} B`);
  },
};
