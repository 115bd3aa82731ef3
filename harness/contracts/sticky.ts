import { z } from 'zod';
import { DrillProblem, type CheckContext, type PoolBinding } from '../checks/check.ts';
import type { PoolHealth } from '../targets/config-plan.ts';
import type { Binding } from './binding.ts';

/** Sticky-cookie contract as a profile states it: the cookie (when the config names none) and the WebSocket path on the cookie-sticky pool. */
export const stickySchema = z
  .object({
    cookie: z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/),
    ws_path: z.string().startsWith('/'),
    /** the cookie-sticky pool (default: the profile's first). */
    pool: z.string().min(1).optional(),
  })
  .strict();

/** The sticky contract as bound to a config: the cookie its pool sets or honours, and the WebSocket path. */
export interface StickyContract {
  cookie: string;
  wsPath: string;
}

/** The config's own persistence cookie wins (real configs name it as they like); the profile's stands in when the config names none. */
export function bindSticky(stated: z.infer<typeof stickySchema>, health: PoolHealth | undefined, sourceFile: string): { contract: StickyContract; binding: Binding } {
  const own = health?.cookie;
  if (own) {
    const how = `${own.mode}${own.indirect ? ' indirect' : ''}`;
    return {
      contract: { cookie: own.name, wsPath: stated.ws_path },
      binding: { what: 'sticky cookie', value: `${own.name} (${how})`, from: 'config', file: own.at.file ?? sourceFile, line: own.at.line, detail: own.at.text },
    };
  }
  return {
    contract: { cookie: stated.cookie, wsPath: stated.ws_path },
    binding: { what: 'sticky cookie', value: stated.cookie, from: 'profile', detail: 'the config names no persistence cookie for the pool' },
  };
}

/** The cookie-sticky pool this check acts on and the sticky contract. */
export function stickyContract(ctx: CheckContext): { pool: PoolBinding; cookie: string; wsPath: string } {
  const pool = ctx.pool;
  if (!pool || !ctx.sticky) throw new DrillProblem('the profile declares no sticky-cookie pool');
  return { pool, cookie: ctx.sticky.cookie, wsPath: ctx.sticky.wsPath };
}
