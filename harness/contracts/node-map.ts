import { z } from 'zod';
import { TARGET_NAMES, type TargetName } from '../targets/target-kind.ts';
import { DrillProblem, type CheckContext } from '../checks/check.ts';

/** Seed 002's header map as a profile states it. */
export const nodeMapSchema = z
  .object({
    header: z.string().min(1),
    /**
     * the map as each target's config names it, for runtime updates: the file it reads (HAProxy
     * `map(<path>)`, an `include` in nginx's `map` block, Apache `RewriteMap txt:<path>`), or the
     * reference LB's map name.
     */
    maps: z.record(z.enum(TARGET_NAMES), z.string().min(1)),
    entries: z.record(z.string()),
    default: z.string(),
    /** map value -> the server address it stands for, as written in the configs. */
    targets: z.record(z.string()),
  })
  .strict();

/** Seed 002's header map: header, entries, default, and the server address each value stands for. */
export interface NodeMapContract {
  header: string;
  /** the map as the profile names it for this target: the file its config reads (path as written), or the reference LB's map name. */
  map: string | undefined;
  entries: Readonly<Record<string, string>>;
  default: string;
  targets: Readonly<Record<string, string>>;
}

/** The profile's map contract for one target. */
export function nodeMapFor(stated: z.infer<typeof nodeMapSchema>, target: TargetName): NodeMapContract {
  return { header: stated.header, map: stated.maps[target], entries: stated.entries, default: stated.default, targets: stated.targets };
}

/** The run's header-map contract, for checks. */
export function nodeMap(ctx: CheckContext): NodeMapContract {
  if (!ctx.nodeMap) throw new DrillProblem('the profile declares no header map');
  return ctx.nodeMap;
}
