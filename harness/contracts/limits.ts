import { z } from 'zod';
import { DrillProblem, type CheckContext } from '../checks/check.ts';
import { formatMs, parseDurationMs } from '../duration.ts';
import type { ClientLimit, ClientLimits } from '../targets/config-plan.ts';
import type { Binding } from './binding.ts';
import { durationSchema } from './duration-schema.ts';

/** What the LB may do with an encoded slash (`%2F`) in a path under a prefix: keep it, decode it, refuse the request, or either safe one (keep or refuse). */
export const ENCODED_SLASH = ['preserve', 'decode', 'reject', 'any-safe'] as const;
export type EncodedSlash = (typeof ENCODED_SLASH)[number];

/**
 * The hostile-client contract (profile http-hardening): the most time and header size a config
 * may give a client, whatever it writes (a config with more fails, as a slower health check
 * fails a failover budget), the tolerance of every timing, and the encoded-slash rule.
 */
export const limitsSchema = z
  .object({
    /** the longest a config may give a client to send its request head. */
    header_timeout: durationSchema,
    /** the longest silence a config may allow in a request body. */
    body_timeout: durationSchema,
    /** the largest header (one field line, or the whole head where the proxy counts so) a config may accept, in bytes. */
    header_bytes: z.number().int().min(1024).max(1_048_576),
    /** how much later than its timeout the LB may cut a slow client (timer granularity, a loaded machine). */
    tolerance: durationSchema.default('1500ms'),
    encoded_slash: z.enum(ENCODED_SLASH).default('any-safe'),
  })
  .strict();

/** The profile's limits contract, in ms and bytes. */
export interface LimitsContract {
  headerTimeoutMaxMs: number;
  bodyTimeoutMaxMs: number;
  headerBytesMax: number;
  toleranceMs: number;
  encodedSlash: EncodedSlash;
}

export function limitsFor(stated: z.infer<typeof limitsSchema>): LimitsContract {
  return {
    headerTimeoutMaxMs: parseDurationMs(stated.header_timeout)!,
    bodyTimeoutMaxMs: parseDurationMs(stated.body_timeout)!,
    headerBytesMax: stated.header_bytes,
    toleranceMs: parseDurationMs(stated.tolerance)!,
    encodedSlash: stated.encoded_slash,
  };
}

/** The run's limits contract, for checks. */
export function limitsContract(ctx: Pick<CheckContext, 'limits'>): LimitsContract {
  if (!ctx.limits) throw new DrillProblem('the profile declares no limits contract (limits.header_timeout, body_timeout, header_bytes)');
  return ctx.limits;
}

/** The config's limits of the listener the checks send to. */
export function listenerLimits(ctx: Pick<CheckContext, 'app'>): ClientLimits {
  if (!ctx.app.limits) throw new DrillProblem(`lbdrill reads no client limits for the listener on port ${ctx.app.originalPort} of this config`);
  return ctx.app.limits;
}

/** What a check holds the LB to: the config's value, or the profile's maximum when the config allows more (or sets none). */
export function effectiveLimit(limit: ClientLimit, maxValue: number): { value: number; capped: boolean } {
  return limit.value === null || limit.value > maxValue ? { value: maxValue, capped: true } : { value: limit.value, capped: false };
}

/** A limit in words: "5 s (client_header_timeout 5s)". */
export function describeLimit(limit: ClientLimit, unit: 'ms' | 'bytes'): string {
  const value = limit.value === null ? 'none' : unit === 'ms' ? formatMs(limit.value) : `${limit.value} B`;
  return `${value} (${limit.source})`;
}

/** The limits of the listener lbdrill sends to, as bound lines (printed before the checks, kept in report.json). */
export function limitBindings(limits: ClientLimits | undefined, contract: LimitsContract | undefined, sourceFile: string): Binding[] {
  if (!limits || !contract) return [];
  const line = (what: string, limit: ClientLimit, unit: 'ms' | 'bytes', max: number, extra = ''): Binding => {
    const over = limit.value === null || limit.value > max;
    const maxText = unit === 'ms' ? formatMs(max) : `${max} B`;
    const value = `${describeLimit(limit, unit)}${extra}${over ? `, above the profile's ${maxText}` : ''}`;
    return limit.at ? { what, value, from: 'config', file: limit.at.file ?? sourceFile, line: limit.at.line } : { what, value, from: 'config', file: sourceFile, detail: "not set: the proxy's default" };
  };
  return [
    line('header read timeout', limits.headerTimeoutMs, 'ms', contract.headerTimeoutMaxMs),
    line('body read timeout', limits.bodyTimeoutMs, 'ms', contract.bodyTimeoutMaxMs),
    line('header size limit', limits.headerBytes, 'bytes', contract.headerBytesMax, limits.headerBytes.scope === 'field' ? ' per header line' : ' for the whole request head'),
  ];
}
