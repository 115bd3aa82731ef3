import { z } from 'zod';
import { applyToxic } from './apply-toxic.ts';
import type { FaultKind } from './fault.ts';
import type { ToxicAttributes } from './fault-proxy.ts';

const attributes = z
  .object({
    averageSizeBytes: z.number().int().min(1).max(1024 * 1024).default(64),
    /** each slice is averageSizeBytes ± up to this many bytes. */
    sizeVariationBytes: z.number().int().min(0).default(32),
    /** pause after each slice; under 1000 µs it is one turn of the proxy's event loop. */
    delayUs: z.number().int().min(0).max(1_000_000).default(1000),
  })
  .strict()
  .refine((a) => a.sizeVariationBytes < a.averageSizeBytes, {
    message: 'must be less than averageSizeBytes',
    path: ['sizeVariationBytes'],
  });

/** toxiproxy `slicer`: the stream's data arrives in small slices with pauses between them. */
export const slicerFault: FaultKind<ToxicAttributes['slicer']> = {
  type: 'slicer',
  layer: 'network',
  title: 'Slice the data between LB and backend into small pieces',
  attributes,
  async apply(site, { attributes: a, stream, toxicity }, ctx) {
    const detail = `${a.averageSizeBytes}±${a.sizeVariationBytes} B every ${a.delayUs} µs`;
    return applyToxic(site, { type: 'slicer', stream, toxicity, seed: ctx.seed, attributes: a }, detail);
  },
};
