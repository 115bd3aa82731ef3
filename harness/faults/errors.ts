import { z } from 'zod';
import { fixtureOf, type FaultKind } from './fault.ts';
import { seededRandom } from './seeded-random.ts';

const attributes = z
  .object({
    /** Share of application requests answered with `status`, 0..1; which ones is fixed by the run's seed. */
    rate: z.number().min(0).max(1).default(1),
    status: z.number().int().min(500).max(599).default(503),
  })
  .strict();
export type ErrorsAttributes = z.infer<typeof attributes>;

/**
 * The backend answers a seeded share of application requests with a 5xx (marked
 * X-Lbdrill-Fault: errors); health requests still answer 200, as with a broken dependency.
 */
export const errorsFault: FaultKind<ErrorsAttributes> = {
  type: 'errors',
  layer: 'backend',
  title: 'backend answers errors',
  attributes,
  async apply(site, { attributes: { rate, status } }, ctx) {
    const seed = Math.floor(seededRandom(ctx.seed, site.name, 'errors')() * 2 ** 32);
    const backend = fixtureOf(site, 'errors');
    backend.setErrors({ rate, status, seed });
    return {
      type: 'errors',
      site: site.name,
      description: `errors ${site.name} ${status} on ${+(rate * 100).toFixed(1)}% of requests`,
      undo: async () => backend.setErrors(undefined),
    };
  },
};
