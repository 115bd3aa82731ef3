import { z } from 'zod';
import { applyToxic } from './apply-toxic.ts';
import type { FaultKind } from './fault.ts';
import type { ToxicAttributes } from './fault-proxy.ts';

const attributes = z
  .object({
    /** kilobytes (1000 bytes, as toxiproxy's `rate`) per second; 10 GB/s at most. */
    rateKbps: z.number().int().min(1).max(10_000_000).default(100),
  })
  .strict();

/** toxiproxy `bandwidth`: the stream carries at most rateKbps KB/s. */
export const bandwidthFault: FaultKind<ToxicAttributes['bandwidth']> = {
  type: 'bandwidth',
  layer: 'network',
  title: 'Limit the bandwidth between LB and backend',
  attributes,
  async apply(site, { attributes: a, stream, toxicity }, ctx) {
    return applyToxic(site, { type: 'bandwidth', stream, toxicity, seed: ctx.seed, attributes: a }, `${a.rateKbps} KB/s`);
  },
};
