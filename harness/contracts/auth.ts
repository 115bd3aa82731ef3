import { z } from 'zod';
import { DrillProblem, type CheckContext, type PoolBinding } from '../checks/check.ts';
import type { ConfigAuthUser } from '../targets/config-plan.ts';
import type { Binding } from './binding.ts';

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
  /**
   * A user the config under test declares and its LB admits, for checks that only need some valid
   * credentials: set when none of the profile's users is one the config declares (bindAuth).
   */
  admitted?: { user: string; password: string; pool: string };
}

/**
 * Binds the auth contract to the config: where the config declares its users (HAProxy userlists)
 * and none of the profile's is among them, the first declared user with a clear-text password whose
 * credentials the running LB admits (`admits` returns the pool that answered) judges "valid
 * credentials"; the profile's users still state which pool each must reach.
 */
export async function bindAuth(
  contract: AuthContract,
  declared: readonly ConfigAuthUser[] | undefined,
  sourceFile: string,
  admits: (user: string, password: string) => Promise<string | undefined>,
): Promise<{ contract: AuthContract; bindings: Binding[] }> {
  if (declared === undefined) return { contract, bindings: [] };
  const known = declared.filter((d) => Object.hasOwn(contract.users, d.name));
  const where = (d: ConfigAuthUser) => ({ file: d.file ?? sourceFile, line: d.line });
  if (known.length > 0) {
    return { contract, bindings: known.map((d): Binding => ({ what: `auth user ${d.name}`, value: `in userlist ${d.list}`, from: 'config', ...where(d) })) };
  }
  const tried: string[] = [];
  for (const d of declared) {
    if (d.password === undefined) continue;
    const pool = await admits(d.name, d.password);
    if (pool !== undefined) {
      const detail = `none of the profile's users (${Object.keys(contract.users).join(', ')}) is declared in the config; ${d.name} is admitted and reaches ${pool}`;
      return { contract: { ...contract, admitted: { user: d.name, password: d.password, pool } }, bindings: [{ what: 'auth user for valid credentials', value: `${d.name} (userlist ${d.list}, insecure-password)`, from: 'config', ...where(d), detail }] };
    }
    tried.push(d.name);
  }
  const detail = `none of the profile's users is declared in the config, and no declared user with a clear-text password is admitted${tried.length > 0 ? ` (tried ${tried.join(', ')})` : ''}`;
  return { contract, bindings: [{ what: 'auth user for valid credentials', value: 'none', from: 'missing', detail }] };
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
  const admitted = contract(ctx).admitted;
  const admittedPool = admitted && ctx.pools.find((p) => p.configName === admitted.pool);
  if (admitted && admittedPool) return { user: admitted.user, password: admitted.password, pool: admittedPool };
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
