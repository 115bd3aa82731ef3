import { z } from 'zod';
import { fixtureOf, type FaultKind } from './fault.ts';
import { seededRandom } from './seeded-random.ts';

const MAX_DELAY_MS = 600_000;

const attributes = z
  .object({
    delayMs: z.number().int().min(1).max(MAX_DELAY_MS).default(1000),
    /** Uniform ± around delayMs, seeded; a delay never goes below 0. */
    jitterMs: z.number().int().min(0).max(MAX_DELAY_MS).default(0),
    healthToo: z.boolean().default(true),
  })
  .strict();
export type SlowAttributes = z.infer<typeof attributes>;

/** The backend waits delayMs ± jitterMs before each response head (after the request body); health requests too unless healthToo is false. */
export const slowFault: FaultKind<SlowAttributes> = {
  type: 'slow',
  layer: 'backend',
  title: 'backend answers slowly',
  attributes,
  async apply(site, { attributes: { delayMs, jitterMs, healthToo } }, ctx) {
    const seed = Math.floor(seededRandom(ctx.seed, site.name, 'slow')() * 2 ** 32);
    const backend = fixtureOf(site, 'slow');
    backend.setSlow({ delayMs, jitterMs, healthToo, seed });
    const jitter = jitterMs > 0 ? `±${jitterMs}` : '';
    return {
      type: 'slow',
      site: site.name,
      description: `slow ${site.name} +${delayMs}${jitter} ms${healthToo ? '' : ', health not delayed'}`,
      undo: async () => backend.setSlow(undefined),
    };
  },
};
