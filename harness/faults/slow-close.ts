import { z } from 'zod';
import { applyToxic } from './apply-toxic.ts';
import type { FaultKind } from './fault.ts';
import type { ToxicAttributes } from './fault-proxy.ts';

const attributes = z
  .object({
    delayMs: z.number().int().min(0).max(3_600_000).default(1000),
  })
  .strict();

/** toxiproxy `slow_close`: data passes at once; the stream's FIN is held back for delayMs. */
export const slowCloseFault: FaultKind<ToxicAttributes['slow_close']> = {
  type: 'slow_close',
  layer: 'network',
  title: 'Delay the close of connections between LB and backend',
  attributes,
  async apply(site, { attributes: a, stream, toxicity }, ctx) {
    return applyToxic(site, { type: 'slow_close', stream, toxicity, seed: ctx.seed, attributes: a }, `FIN +${a.delayMs} ms`);
  },
};
