import { z } from 'zod';
import { parseDurationMs } from '../duration.ts';

/** A duration as profiles write it ("500ms", "20s", "2m"). */
export const durationSchema = z.string().refine((t) => parseDurationMs(t) !== undefined, (t) => ({ message: `expected a duration like 500ms, 20s or 2m, got "${t}"` }));
