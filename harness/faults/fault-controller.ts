import { z } from 'zod';
import { LbdrillError } from '../errors.ts';
import { describeZodError } from '../zod-message.ts';
import { FAULT_TYPES, type AppliedFault, type FaultContext, type FaultSite, type FaultStream, type FaultType } from './fault.ts';
import { FAULTS } from './registry.ts';

/** A fault as a scenario or the CLI writes it, before validation of its attributes. */
export interface FaultSpec {
  type: FaultType;
  attributes?: Record<string, unknown>;
  stream?: FaultStream;
  toxicity?: number;
}

export const faultSpecSchema = z
  .object({
    type: z.enum(FAULT_TYPES, { errorMap: () => ({ message: `unknown fault (known: ${FAULT_TYPES.join(', ')})` }) }),
    attributes: z.record(z.unknown()).optional(),
    stream: z.enum(['upstream', 'downstream']).optional(),
    toxicity: z.number().min(0).max(1).optional(),
  })
  .strict();

/**
 * Validates a fault's attributes against its kind; throws LBDRILL_ERR_SCENARIO_INVALID with
 * one line naming the field (`where` says which fault: "timeline[2]").
 */
export function validateFault(spec: FaultSpec, where: string): { attributes: unknown; stream: FaultStream; toxicity: number } {
  const kind = FAULTS.get(spec.type);
  if (!kind) throw new LbdrillError('LBDRILL_ERR_SCENARIO_INVALID', `${where}.type: unknown fault "${spec.type}" (known: ${FAULT_TYPES.join(', ')})`);
  if (kind.layer !== 'network' && spec.stream !== undefined) {
    throw new LbdrillError('LBDRILL_ERR_SCENARIO_INVALID', `${where}.stream: "${spec.type}" acts on the ${kind.layer === 'link' ? "backend's link" : 'backend process'} and has no stream (only network faults do)`);
  }
  const parsed = kind.attributes.safeParse(spec.attributes ?? {});
  if (!parsed.success) throw new LbdrillError('LBDRILL_ERR_SCENARIO_INVALID', `${where}.attributes: ${describeZodError(parsed.error)}`);
  return { attributes: parsed.data, stream: spec.stream ?? 'downstream', toxicity: spec.toxicity ?? 1 };
}

/**
 * Applies faults and remembers them, so that `undoAll` — which the runner calls in its
 * `finally`, also on Ctrl-C and when a check throws — restores every site.
 */
export class FaultController implements AsyncDisposable {
  readonly #applied = new Set<AppliedFault>();
  readonly #ctx: FaultContext;

  constructor(ctx: FaultContext) {
    this.#ctx = ctx;
  }

  async apply(spec: FaultSpec, site: FaultSite, where = 'fault'): Promise<AppliedFault> {
    const kind = FAULTS.get(spec.type)!;
    const settings = validateFault(spec, where);
    let applied: AppliedFault;
    try {
      applied = await kind.apply(site, settings, this.#ctx);
    } catch (err) {
      throw new LbdrillError('LBDRILL_ERR_FAULT', `${spec.type} on ${site.name}: ${(err as Error).message}`, { cause: err });
    }
    const tracked: AppliedFault = {
      type: applied.type,
      site: applied.site,
      description: applied.description,
      undo: async () => {
        this.#applied.delete(tracked);
        await applied.undo();
      },
    };
    this.#applied.add(tracked);
    return tracked;
  }

  get active(): AppliedFault[] {
    return [...this.#applied];
  }

  /** Undoes every fault still applied, newest first; errors are collected, never stop the others. */
  async undoAll(): Promise<void> {
    const errors: unknown[] = [];
    for (const f of [...this.#applied].reverse()) {
      try {
        await f.undo();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new LbdrillError('LBDRILL_ERR_FAULT', `undoing faults: ${(errors[0] as Error).message}`, { cause: errors[0] });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.undoAll();
  }
}
