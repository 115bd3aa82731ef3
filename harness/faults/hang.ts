import { z } from 'zod';
import type { FaultKind } from './fault.ts';

const attributes = z.object({}).strict();
export type HangAttributes = z.infer<typeof attributes>;

/**
 * The backend accepts connections and reads requests but never answers, health checks
 * included (a deployed backend: its `pause` hook). Undo resets (RST) the connections it
 * held, like restarting a stuck process (a deployed backend: its `unpause` hook).
 */
export const hangFault: FaultKind<HangAttributes> = {
  type: 'hang',
  layer: 'backend',
  title: 'backend hangs',
  attributes,
  async apply(site) {
    await site.backend.setHang(true);
    return {
      type: 'hang',
      site: site.name,
      description: `hang ${site.name}`,
      undo: async () => site.backend.setHang(false),
    };
  },
};
