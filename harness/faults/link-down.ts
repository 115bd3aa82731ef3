import { z } from 'zod';
import { LbdrillError } from '../errors.ts';
import type { FaultKind } from './fault.ts';

const attributes = z.object({}).strict();
export type LinkDownAttributes = z.infer<typeof attributes>;

/** The backend's test host drops off the network: its veth goes down (--network netns). Undo brings it back up. */
export const linkDownFault: FaultKind<LinkDownAttributes> = {
  type: 'link_down',
  layer: 'link',
  title: "backend host's link down",
  attributes,
  async apply(site) {
    const link = site.link;
    if (!link) throw new LbdrillError('LBDRILL_ERR_FAULT', `link_down needs --network netns: ${site.name} has no test host of its own`);
    await link.down();
    let undone: Promise<void> | undefined;
    return { type: 'link_down', site: site.name, description: `link down ${site.name}`, undo: () => (undone ??= link.up()) };
  },
};
