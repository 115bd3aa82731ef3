import { z } from 'zod';
import { parseDurationMs } from '../duration.ts';
import { DrillProblem, type CheckContext } from '../checks/check.ts';
import { durationSchema } from './duration-schema.ts';

/** Server queue contract (seed 002: `maxconn M maxqueue Q` per server): M+Q concurrent slow requests per server are served, more get a quick 503. */
export const queueSchema = z
  .object({
    max_conn: z.number().int().min(1).max(500),
    max_queue: z.number().int().min(0).max(500),
    /** how long each request holds its server (the backend answers after this delay). */
    hold: durationSchema.default('1500ms'),
    /** a request beyond the queue must be refused within this. */
    refuse_within: durationSchema.default('1s'),
  })
  .strict();

/** Seed 002's `maxconn M maxqueue Q` per server, and how the check exercises it. */
export interface QueueContract {
  maxConn: number;
  maxQueue: number;
  /** how long each request holds its server. */
  holdMs: number;
  /** a request beyond the queue must be refused within this. */
  refuseWithinMs: number;
}

export function queueFor(stated: z.infer<typeof queueSchema>): QueueContract {
  return { maxConn: stated.max_conn, maxQueue: stated.max_queue, holdMs: parseDurationMs(stated.hold)!, refuseWithinMs: parseDurationMs(stated.refuse_within)! };
}

/** The run's queue contract, for checks. */
export function queueContract(ctx: CheckContext): QueueContract {
  if (!ctx.queue) throw new DrillProblem('the profile declares no server queue (queue.max_conn / max_queue)');
  return ctx.queue;
}
