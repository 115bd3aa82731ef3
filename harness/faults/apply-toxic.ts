import { LbdrillError } from '../errors.ts';
import type { AppliedFault, FaultSite } from './fault.ts';
import type { ToxicSpec } from './fault-proxy.ts';

/**
 * Adds one toxic to the site's fault proxy and returns it as an AppliedFault whose undo
 * removes it. `detail` describes the attributes for the timeline: "+200±50 ms".
 */
export function applyToxic(site: FaultSite, spec: ToxicSpec & { toxicity: number }, detail: string): AppliedFault {
  const proxy = site.proxy;
  if (!proxy) {
    throw new LbdrillError(
      'LBDRILL_ERR_FAULT',
      `${spec.type} is a network fault, but ${site.name} has no fault proxy in front of it (the run must route the LB through lbdrill's proxy)`,
    );
  }
  const toxic = proxy.addToxic(spec);
  const percent = Number((spec.toxicity * 100).toFixed(1));
  return {
    type: spec.type,
    site: site.name,
    description: `${spec.type} ${detail} ${spec.stream} ${percent}% → ${site.name}`,
    undo: async () => toxic.remove(),
  };
}
