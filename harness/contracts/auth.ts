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

/** The profile's users, each with the pool binding it must reach; a user whose pool the config lacks is a problem. */
export function authUsers(ctx: CheckContext): Array<{ user: string; password: string; pool: PoolBinding }> {
  return Object.keys(contract(ctx).users).map((user) => {
    const found = boundUser(ctx, user);
    if (!found) throw new DrillProblem(`user ${user} maps to pool ${contract(ctx).users[user]!.pool}, which the config under test does not have`);
    return found;
  });
}

/**
 * A user whose credentials the config can be judged with: one of the check's own pool, else any
 * user whose pool the config has. Users of pools the config lacks are left out, not a failure.
 */
export function someAuthUser(ctx: CheckContext, pool: PoolBinding): { user: string; password: string; pool: PoolBinding } {
  const bound = Object.keys(contract(ctx).users).flatMap((user) => boundUser(ctx, user) ?? []);
  const chosen = bound.find((u) => u.pool === pool) ?? bound[0];
  if (!chosen) throw new DrillProblem(`no user of the profile maps to a pool the config under test has (${Object.values(contract(ctx).users).map((u) => u.pool).join(', ')})`);
  return chosen;
}

function contract(ctx: CheckContext): AuthContract {
  if (!ctx.auth) throw new DrillProblem('the profile declares no basic-auth users');
  return ctx.auth;
}

function boundUser(ctx: CheckContext, user: string): { user: string; password: string; pool: PoolBinding } | undefined {
  const u = contract(ctx).users[user]!;
  const pool = ctx.pools.find((p) => p.name === u.pool);
  return pool && { user, password: u.password, pool };
}
