import type { CheckContext, PoolBinding } from './check.ts';
import { DrillProblem } from './check.ts';

/** `Authorization: Basic ...` for a user and password. */
export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** The profile's users, each with the pool binding it must reach. */
export function authUsers(ctx: CheckContext): Array<{ user: string; password: string; pool: PoolBinding }> {
  if (!ctx.auth) throw new DrillProblem('the profile declares no basic-auth users');
  return Object.entries(ctx.auth.users).map(([user, u]) => {
    const pool = ctx.pools.find((p) => p.name === u.pool);
    if (!pool) throw new DrillProblem(`user ${user} maps to pool ${u.pool}, which the profile does not declare`);
    return { user, password: u.password, pool };
  });
}

/** Which profile pool a backend id belongs to (first match), or undefined. */
export function poolOf(ctx: CheckContext, backend: string | null): string | undefined {
  return ctx.pools.find((p) => [...p.primaries, ...p.backups].some((b) => b.backend.id === backend))?.name;
}
