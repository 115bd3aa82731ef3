import { z } from 'zod';
import type { FaultKind } from './fault.ts';

const attributes = z
  .object({
    /** Absent: crash now. Set: the next application response longer than this sends its head and this many body bytes, then the backend crashes. */
    afterBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  })
  .strict();
export type CrashAttributes = z.infer<typeof attributes>;

/**
 * The backend dies like a killed process: every connection is reset, responses in flight are
 * cut mid-body, new connections are refused. Undo cancels a crash still armed and starts the backend.
 */
export const crashFault: FaultKind<CrashAttributes> = {
  type: 'crash',
  layer: 'backend',
  title: 'backend crashed mid-response',
  attributes,
  async apply(site, { attributes: { afterBytes } }) {
    const backend = site.backend;
    // Behind a fault proxy the proxy dies with the backend, or the LB would see accept-then-reset instead of a refusal.
    const onMode = () => {
      if (backend.mode.state === 'crashed') void site.proxy?.disable();
    };
    if (site.proxy) backend.events.on('mode', onMode);
    if (afterBytes === undefined) await Promise.all([backend.crash(), site.proxy?.disable()]);
    else backend.armCrash(afterBytes);
    let undone: Promise<void> | undefined;
    return {
      type: 'crash',
      site: site.name,
      description:
        afterBytes === undefined ? `crash ${site.name}` : `crash ${site.name} after ${afterBytes} body bytes of its next response`,
      undo: () =>
        (undone ??= (async () => {
          backend.events.off('mode', onMode);
          backend.disarmCrash();
          await backend.start();
          await site.proxy?.enable();
        })()),
    };
  },
};
