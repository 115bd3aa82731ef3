import { z } from 'zod';
import { DrillProblem, type CheckContext, type PoolBinding } from '../checks/check.ts';

/** Basic-auth contract: user -> password, and which pool each user must reach. */
export const authSchema = z
  .object({
    realm_required: z.boolean().default(true),
    users: z.record(z.object({ password: z.string(), pool: z.string() }).strict()),
  })
  .strict();

/** The profile's basic-auth contract: user -> password and the pool the user must reach. */
export interface AuthContract {
  users: Readonly<Record<string, { password: string; pool: string }>>;
}

/** The profile's users, each with the pool binding it must reach. */
export function authUsers(ctx: CheckContext): Array<{ user: string; password: string; pool: PoolBinding }> {
  if (!ctx.auth) throw new DrillProblem('the profile declares no basic-auth users');
  return Object.entries(ctx.auth.users).map(([user, u]) => {
    const pool = ctx.pools.find((p) => p.name === u.pool);
    if (!pool) throw new DrillProblem(`user ${user} maps to pool ${u.pool}, which the config under test does not have`);
    return { user, password: u.password, pool };
  });
}
