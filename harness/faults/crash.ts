import { z } from 'zod';
import { fixtureOf, type FaultKind } from './fault.ts';

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
    // Crashing mid-response is a behaviour of lbdrill's own backend; a plain crash is any backend's (a deployed one: its kill hook).
    const fixture = afterBytes === undefined ? site.fixture : fixtureOf(site, 'crash');
    // Behind a fault proxy the proxy dies with the backend, or the LB would see accept-then-reset instead of a refusal.
    const onMode = () => {
      if (fixture?.mode.state === 'crashed') void site.proxy?.disable();
    };
    if (site.proxy) fixture?.events.on('mode', onMode);
    if (afterBytes === undefined) await Promise.all([backend.crash(), site.proxy?.disable()]);
    else fixture!.armCrash(afterBytes);
    let undone: Promise<void> | undefined;
    return {
      type: 'crash',
      site: site.name,
      description:
        afterBytes === undefined ? `crash ${site.name}` : `crash ${site.name} after ${afterBytes} body bytes of its next response`,
      undo: () =>
        (undone ??= (async () => {
          fixture?.events.off('mode', onMode);
          fixture?.disarmCrash();
          await backend.start();
          await site.proxy?.enable();
        })()),
    };
  },
};
