import { z } from 'zod';
import { LbdrillError } from '../errors.ts';
import type { FaultKind } from './fault.ts';

const attributes = z.object({}).strict();
export type PartitionAttributes = z.infer<typeof attributes>;

/** A partition: every packet to and from the backend's test host is dropped silently (--network netns). Undo heals it. */
export const partitionFault: FaultKind<PartitionAttributes> = {
  type: 'partition',
  layer: 'link',
  title: 'backend host partitioned',
  attributes,
  async apply(site) {
    const link = site.link;
    if (!link) throw new LbdrillError('LBDRILL_ERR_FAULT', `partition needs --network netns: ${site.name} has no test host of its own`);
    await link.partition();
    let undone: Promise<void> | undefined;
    return { type: 'partition', site: site.name, description: `partition ${site.name}`, undo: () => (undone ??= link.heal()) };
  },
};
