import { describe, expect, it } from 'vitest';
import { bindAuth, type AuthContract } from './auth.ts';

const contract: AuthContract = { users: { john: { password: 'somePassword', pool: 'default' }, vip: { password: 'ipaygoodmoneyforthis', pool: 'deluxe' } } };

describe("binding the basic-auth contract to the config's users", () => {
  it('judges valid credentials with a declared user the LB admits when the config declares none of the profile users', async () => {
    const tried: string[] = [];
    const admits = async (user: string) => (tried.push(user), user === 'monica' ? 'c2b0' : undefined);
    const declared = [
      { name: 'boss', list: 'customer1', line: 3 },
      { name: 'scott', password: 'cat', list: 'customer1', line: 4 },
      { name: 'monica', password: 'monica', list: 'customer2', line: 9 },
    ];
    const bound = await bindAuth(contract, declared, 'auth.cfg', admits);
    expect(tried).toEqual(['scott', 'monica']);
    expect(bound.contract.admitted).toEqual({ user: 'monica', password: 'monica', pool: 'c2b0' });
    expect(bound.bindings[0]).toMatchObject({ what: 'auth user for valid credentials', from: 'config', file: 'auth.cfg', line: 9 });
  });

  it("keeps the profile's users where the config declares them, and is missing when no declared user is admitted", async () => {
    const never = async () => undefined;
    const known = await bindAuth(contract, [{ name: 'john', list: 'l', line: 1 }], 'a.cfg', never);
    expect(known.contract.admitted).toBeUndefined();
    expect(known.bindings).toMatchObject([{ what: 'auth user john', from: 'config' }]);
    const none = await bindAuth(contract, [{ name: 'peter', password: 'peter', list: 'l', line: 2 }], 'a.cfg', never);
    expect(none.contract.admitted).toBeUndefined();
    expect(none.bindings).toMatchObject([{ value: 'none', from: 'missing' }]);
    expect(await bindAuth(contract, undefined, 'a.cfg', never)).toEqual({ contract, bindings: [] });
  });
});
