import { z } from 'zod';
import { applyToxic } from './apply-toxic.ts';
import type { FaultKind } from './fault.ts';
import type { ToxicAttributes } from './fault-proxy.ts';

const attributes = z
  .object({
    /** from the moment the fault hits a connection (open or new) to its RST; 0 resets at once. */
    timeoutMs: z.number().int().min(0).max(3_600_000).default(0),
  })
  .strict();

/**
 * toxiproxy `reset_peer`: connections are reset (RST to the LB and to the backend) timeoutMs
 * after the fault hits them; new connections too while it is active. Unlike toxiproxy, which
 * starts the clock at the first data, the clock starts when the fault applies, so idle pooled
 * connections are reset as well.
 */
export const resetPeerFault: FaultKind<ToxicAttributes['reset_peer']> = {
  type: 'reset_peer',
  layer: 'network',
  title: 'Reset the connections between LB and backend',
  attributes,
  async apply(site, { attributes: a, stream, toxicity }, ctx) {
    const detail = a.timeoutMs === 0 ? 'at once' : `after ${a.timeoutMs} ms`;
    return applyToxic(site, { type: 'reset_peer', stream, toxicity, seed: ctx.seed, attributes: a }, detail);
  },
};
