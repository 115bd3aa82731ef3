import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { describeZodError } from '../../zod-message.ts';

const ms = z.number();
const msOrNull = z.number().nullable();

/** What the report reads of run/<target>/failover-timeline.json (written by harness/checks/failover-sequence.ts); times in ms from the probe's start. */
const FailoverTimelineSchema = z.object({
  victim: z.string(),
  serverName: z.string(),
  resolutionMs: ms,
  faultAtMs: ms,
  undoAtMs: msOrNull,
  lbEvents: z.array(z.object({ atMs: ms, server: z.string(), state: z.string(), reason: z.string().optional() })),
  measurement: z.object({
    detectMs: msOrNull,
    detectSource: z.enum(['lb-event', 'traffic']).nullable(),
    lbDownMs: msOrNull,
    rejoinMs: msOrNull,
    lbUpMs: msOrNull,
    clientErrors: ms,
    errorsByKind: z.record(z.number()),
    errorsAfterDetect: ms,
  }),
  samples: z.array(z.object({ sentAtMs: ms, latencyMs: ms, backend: z.string().nullable(), status: z.number().nullable(), error: z.string().nullable() })),
});

export type FailoverTimeline = z.infer<typeof FailoverTimelineSchema>;

/** Where a target's drill timeline lives, relative to the report directory (links stay valid when the directory moves). */
export function timelinePath(target: string): string {
  return `run/${target}/failover-timeline.json`;
}

/** A target's failover timeline, or why it cannot be drawn (missing or not a timeline), as one line. */
export async function readFailoverTimeline(reportDir: string, target: string): Promise<FailoverTimeline | { problem: string }> {
  const file = timelinePath(target);
  let text: string;
  try {
    text = await readFile(join(reportDir, file), 'utf8');
  } catch (err) {
    return { problem: `${file} could not be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { problem: `${file} is not JSON (${(err as Error).message})` };
  }
  const parsed = FailoverTimelineSchema.safeParse(json);
  return parsed.success ? parsed.data : { problem: `${file}: ${describeZodError(parsed.error)}` };
}
