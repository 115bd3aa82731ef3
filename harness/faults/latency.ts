import { z } from 'zod';
import { applyToxic } from './apply-toxic.ts';
import type { FaultKind } from './fault.ts';
import type { ToxicAttributes } from './fault-proxy.ts';

/** At most 5 minutes: beyond that every LB has long timed out. */
const MAX_LATENCY_MS = 300_000;

const attributes = z
  .object({
    latencyMs: z.number().int().min(0).max(MAX_LATENCY_MS).default(1000),
    /** each chunk gets latency ± a uniform share of this; never below 0 in total. */
    jitterMs: z.number().int().min(0).max(MAX_LATENCY_MS).default(0),
  })
  .strict();

/** toxiproxy `latency`: every chunk (and the FIN) of the stream arrives latencyMs ± jitterMs late, in order. */
export const latencyFault: FaultKind<ToxicAttributes['latency']> = {
  type: 'latency',
  layer: 'network',
  title: 'Delay the data between LB and backend',
  attributes,
  async apply(site, { attributes: a, stream, toxicity }, ctx) {
    const detail = a.jitterMs > 0 ? `+${a.latencyMs}±${a.jitterMs} ms` : `+${a.latencyMs} ms`;
    return applyToxic(site, { type: 'latency', stream, toxicity, seed: ctx.seed, attributes: a }, detail);
  },
};
