import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../client/lb-client.ts';
import type { PoolMatch } from '../contracts/pools.ts';
import { chooseEntryPoint } from './entry-point.ts';

const endpoint = (port: number, extra: Partial<Endpoint>): Endpoint => ({ host: '127.0.0.1', port, tls: false, serverName: 'localhost', originalPort: 8080, ...extra });
const match = (configName: string | undefined): PoolMatch => ({ name: 'default', probePath: '/ping', pathPrefix: '/', configName, binding: { what: 'pool default', value: configName ?? '', from: 'flag' } });
const listeners = [
  { spec: '127.101.128.1:8080', address: '127.101.128.1', port: 8080, tls: false, serverNames: [], line: 43 },
  { spec: '127.201.128.1:8080', address: '127.201.128.1', port: 8080, tls: false, serverNames: [], line: 112 },
];

describe('the entry point lbdrill sends traffic to', () => {
  const c1 = endpoint(1001, { originalAddress: '127.101.128.1', pools: ['c1uat', 'c1dev'] });
  const c2 = endpoint(1002, { originalAddress: '127.201.128.1', pools: ['c2b1', 'c2b0'] });

  it('is the listener that routes to the pool the profile is bound to, not the first in the file, and says so', () => {
    const chosen = chooseEntryPoint([c1, c2], listeners, [match('c2b0')], 'auth.cfg');
    expect(chosen.app).toBe(c2);
    expect(chosen.binding).toMatchObject({ what: 'entry point', value: '127.201.128.1:8080', from: 'config', line: 112 });
  });

  it('falls back to the first TLS listener, then the first, when no listener is known to route to a bound pool', () => {
    const tls = endpoint(1003, { tls: true, originalPort: 443 });
    expect(chooseEntryPoint([endpoint(1004, {}), tls], [], [match(undefined)], 'x.cfg')).toEqual({ app: tls });
    expect(chooseEntryPoint([c1, c2], listeners, [match('elsewhere')], 'auth.cfg').app).toBe(c1);
  });
});
