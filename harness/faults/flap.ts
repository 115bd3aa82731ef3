import { z } from 'zod';
import { fixtureOf, type FaultKind } from './fault.ts';

const MIN_PERIOD_MS = 100;
const MAX_PERIOD_MS = 3_600_000;

const attributes = z
  .object({
    periodMs: z.number().int().min(MIN_PERIOD_MS).max(MAX_PERIOD_MS).default(2000),
    /** Down part of each period; default half of it. */
    downMs: z.number().int().min(1).optional(),
    /** 'stop': the backend stops and starts; 'health': only its health paths fail and recover. */
    mode: z.enum(['stop', 'health']).default('stop'),
  })
  .strict()
  .superRefine((a, issues) => {
    if (a.downMs !== undefined && a.downMs >= a.periodMs) {
      issues.addIssue({ code: z.ZodIssueCode.custom, path: ['downMs'], message: `must be less than periodMs (${a.periodMs})` });
    }
  })
  .transform((a) => ({ ...a, downMs: a.downMs ?? Math.floor(a.periodMs / 2) }));
export type FlapAttributes = z.output<typeof attributes>;

/**
 * The backend goes down for downMs at the start of every periodMs and comes back for the
 * rest, until undo or the run's signal aborts; both leave it up.
 */
export const flapFault: FaultKind<FlapAttributes> = {
  type: 'flap',
  layer: 'backend',
  title: 'backend flaps',
  attributes,
  async apply(site, { attributes: { periodMs, downMs, mode } }, ctx) {
    const backend = site.backend;
    const fixture = mode === 'health' ? fixtureOf(site, 'flap') : undefined;
    const goDown = fixture ? async () => fixture.setHealthy(false) : () => backend.stop();
    const goUp = fixture ? async () => fixture.setHealthy(true) : () => backend.start();
    const startedAt = performance.now();
    let flapping = !ctx.signal.aborted;
    let timer: NodeJS.Timeout | undefined;
    // Transitions run one after another; a failed start (port taken) is retried at the next up phase.
    let transitions = Promise.resolve();

    let down = false;
    // The phase follows from the time since the start, so the period does not drift with slow
    // stops and starts, a timer that wakes early just waits again, and phases a blocked event
    // loop missed are skipped rather than replayed.
    const tick = (): void => {
      if (!flapping) return;
      const elapsedMs = performance.now() - startedAt;
      const intoPeriodMs = elapsedMs % periodMs;
      const shouldBeDown = intoPeriodMs < downMs;
      if (shouldBeDown !== down) {
        down = shouldBeDown;
        transitions = transitions.then(down ? goDown : goUp).catch(() => undefined);
      }
      const untilNextMs = (down ? downMs : periodMs) - intoPeriodMs;
      timer = setTimeout(tick, Math.max(1, Math.ceil(untilNextMs)));
    };

    let undone: Promise<void> | undefined;
    const undo = (): Promise<void> =>
      (undone ??= (async () => {
        flapping = false;
        clearTimeout(timer);
        ctx.signal.removeEventListener('abort', onAbort);
        await transitions;
        await goUp();
      })());
    // Teardown calls undo again and sees its failure, if any.
    const onAbort = (): void => void undo().catch(() => undefined);
    ctx.signal.addEventListener('abort', onAbort, { once: true });

    tick();
    await transitions;
    const what = mode === 'stop' ? 'stopped' : 'health failing';
    return {
      type: 'flap',
      site: site.name,
      description: `flap ${site.name}: ${what} ${downMs} ms of every ${periodMs} ms`,
      undo,
    };
  },
};
