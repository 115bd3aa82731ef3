import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type StartedBackend } from '../../fixtures/backend/index.ts';
import { WsFleet } from '../ws/ws-fleet.ts';
import { SimulatedUsers, USER_ADDRESSES, userAddress } from './simulated-user.ts';

/** The first three octets: what nginx's ip_hash keys on. */
const slash24 = (address: string) => address.split('.').slice(0, 3).join('.');

describe('simulated users: addresses', () => {
  it('every slot is its own /24 inside 127.170-199.64-255, never an address another part of lbdrill uses', () => {
    const all = Array.from({ length: USER_ADDRESSES }, (_, i) => userAddress(i, 9));
    expect(new Set(all.map(slash24)).size).toBe(USER_ADDRESSES);
    for (const a of all) {
      const [, second, third] = a.split('.').map(Number) as [number, number, number];
      expect(second >= 170 && second <= 199 && third >= 64 && third <= 255, a).toBe(true);
    }
    expect(() => userAddress(USER_ADDRESSES, 9)).toThrow(/outside/);
    expect(() => userAddress(0, 255)).toThrow(/outside/);
  });

  it("users' last octets vary, so a hash of the whole address modulo 2 (HAProxy's map-based balance source) splits them", () => {
    const users = new SimulatedUsers({ caPem: '', seed: 1, purpose: 'x', count: 40 }).users;
    const odd = users.filter((u) => Number(u.address.split('.')[3]) % 2 === 1).length;
    expect(odd).toBeGreaterThan(5);
    expect(odd).toBeLessThan(35);
  });

  it('the same seed and purpose give the same users; another seed or purpose others', () => {
    const addresses = (seed: number, purpose: string) => new SimulatedUsers({ caPem: '', seed, purpose, count: 40 }).users.map((u) => u.address);
    expect(addresses(1, 'sticky.cookie-honoured')).toEqual(addresses(1, 'sticky.cookie-honoured'));
    expect(addresses(2, 'sticky.cookie-honoured')).not.toEqual(addresses(1, 'sticky.cookie-honoured'));
    expect(addresses(1, 'sticky.ws-same-backend')).not.toEqual(addresses(1, 'sticky.cookie-honoured'));
    expect(new Set(addresses(7, 'x').map(slash24)).size).toBe(40);
  });

  it('a count the block cannot hold is refused', () => {
    expect(() => new SimulatedUsers({ caPem: '', seed: 1, purpose: 'x', count: USER_ADDRESSES + 1 })).toThrow(/count/);
  });
});

describe('simulated users: one address for HTTP and WebSocket', () => {
  let backend: StartedBackend;
  beforeAll(async () => {
    backend = await startBackend({ id: 'b', host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await backend.close();
  });

  it("each user's requests and its WebSocket come from that user's address, and from no other user's", async () => {
    await using users = new SimulatedUsers({ caPem: '', seed: 3, purpose: 'test', count: 3 });
    const [host, port] = backend.address.split(':') as [string, string];
    const endpoint = { host, port: Number(port), tls: false, serverName: 'localhost', originalPort: 80 };
    for (const user of users.users) {
      expect((await user.http.send(endpoint, { path: '/' }, { fresh: true })).status).toBe(200);
      expect((await user.http.send(endpoint, { path: '/' })).status).toBe(200);
    }
    const http = backend.requests.filter((r) => !r.health).map((r) => r.remoteAddress);
    await using fleet = await WsFleet.start({ count: 3, endpoint, localAddress: users.addressOf, seed: 1, backoff: { initialMs: 100, maxMs: 100 }, connectTimeoutMs: 2000 });
    await fleet.waitAllConnected(2000);
    const addresses = users.users.map((u) => u.address);
    expect(http).toEqual(addresses.flatMap((a) => [a, a]));
    expect(fleet.clients.map((c) => c.lastHello?.remoteAddress)).toEqual(addresses);
  });
});
