import type { LbResponse } from '../client/lb-client.ts';
import type { CheckContext, PoolBinding } from './check.ts';
import { DrillProblem } from './check.ts';

/** The cookie-sticky pool (the profile's first) and the sticky contract. */
export function stickyContract(ctx: CheckContext): { pool: PoolBinding; cookie: string; wsPath: string } {
  const pool = ctx.pools[0];
  if (!pool || !ctx.sticky) throw new DrillProblem('the profile declares no sticky-cookie pool');
  return { pool, cookie: ctx.sticky.cookie, wsPath: ctx.sticky.wsPath };
}

/** The profile pool named `name`, or a DrillProblem naming what is missing. */
export function poolNamed(ctx: CheckContext, name: string): PoolBinding {
  const pool = ctx.pools.find((p) => p.name === name);
  if (!pool) throw new DrillProblem(`the profile declares no pool ${name}`);
  return pool;
}

/** Value of cookie `name` in a response's Set-Cookie headers, or undefined. */
export function setCookieValue(res: Pick<LbResponse, 'headers'>, name: string): string | undefined {
  const raw = res.headers['set-cookie'];
  const lines = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  for (const line of lines) {
    const first = line.split(';', 1)[0] ?? '';
    const eq = first.indexOf('=');
    if (eq > 0 && first.slice(0, eq).trim() === name) return first.slice(eq + 1).trim();
  }
  return undefined;
}

/** Whether a Cookie header (as the backend received it) carries cookie `name`. */
export function cookieHeaderHas(header: string | string[] | undefined, name: string): boolean {
  const text = Array.isArray(header) ? header.join('; ') : (header ?? '');
  return text.split(';').some((part) => part.trim().startsWith(`${name}=`));
}

export function backendOf(res: Pick<LbResponse, 'headers'>): string | null {
  const b = res.headers['x-lbdrill-backend'];
  return typeof b === 'string' ? b : null;
}
