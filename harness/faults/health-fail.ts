import { z } from 'zod';
import { fixtureOf, type FaultKind } from './fault.ts';

const attributes = z.object({}).strict();
export type HealthFailAttributes = z.infer<typeof attributes>;

/** The backend's health paths answer 503 while its application paths still serve. */
export const healthFailFault: FaultKind<HealthFailAttributes> = {
  type: 'health_fail',
  layer: 'backend',
  title: 'backend health check fails',
  attributes,
  async apply(site) {
    const backend = fixtureOf(site, 'health_fail');
    backend.setHealthy(false);
    return {
      type: 'health_fail',
      site: site.name,
      description: `health_fail ${site.name}`,
      undo: async () => backend.setHealthy(true),
    };
  },
};
