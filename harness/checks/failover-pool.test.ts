import { describe, expect, it } from 'vitest';
import type { BackendBinding, CheckContext, PoolBinding } from './check.ts';
import { failoverPool } from './failover-sequence.ts';

const server = (id: string): BackendBinding => ({ backend: { id } } as BackendBinding);
const ctxWith = (primaries: BackendBinding[], backups: BackendBinding[]): CheckContext =>
  ({ pools: [{ name: 'api_pool', configName: 'fcluster', probePath: '/', pathPrefix: '/', primaries, backups, health: undefined } satisfies PoolBinding] }) as unknown as CheckContext;

describe('the pool a failover drill acts on', () => {
  it('fails over from the first primary to the other primaries', () => {
    const [a, b, c] = [server('a'), server('b'), server('c')];
    expect(failoverPool(ctxWith([a, b], [c]))).toMatchObject({ victim: a, others: [b] });
  });

  it('fails over from a sole primary to its hot standby (Apache status=+H, a backup server)', () => {
    const [primary, standby] = [server('fcluster-1'), server('fcluster-2')];
    expect(failoverPool(ctxWith([primary], [standby]))).toMatchObject({ victim: primary, others: [standby] });
  });

  it('has nothing to fail over to with one primary and no backup, and says so', () => {
    expect(() => failoverPool(ctxWith([server('only')], []))).toThrow('pool fcluster has nothing to fail over to: it needs 2 primary servers, or 1 and a backup; the config has 1 primary and no backup');
  });
});
