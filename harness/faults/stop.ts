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
    await site.backend.stop();
    let undone: Promise<void> | undefined;
    return {
      type: 'stop',
      site: site.name,
      description: `stop ${site.name}`,
      undo: () => (undone ??= site.backend.start()),
    };
  },
};
