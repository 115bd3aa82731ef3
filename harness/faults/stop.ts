import { z } from 'zod';
import type { FaultKind } from './fault.ts';

const attributes = z.object({}).strict();
export type StopAttributes = z.infer<typeof attributes>;

/** The backend stops: its listener closes and open connections are reset (RST); undo starts it again on the same address. */
export const stopFault: FaultKind<StopAttributes> = {
  type: 'stop',
  layer: 'backend',
  title: 'backend stopped',
  attributes,
  async apply(site) {
    // Behind a fault proxy the proxy dies with the backend, or the LB would see accept-then-reset instead of a refusal.
    await Promise.all([site.backend.stop(), site.proxy?.disable()]);
    let undone: Promise<void> | undefined;
    return {
      type: 'stop',
      site: site.name,
      description: `stop ${site.name}`,
      undo: () =>
        (undone ??= (async () => {
          await site.backend.start();
          await site.proxy?.enable();
        })()),
    };
  },
};
