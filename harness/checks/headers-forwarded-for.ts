import type { Check } from './check.ts';
import { fail, pass } from './check.ts';
import { headerValue, probeBackendRequest } from './header-probe.ts';
import { contractPool } from '../contracts/pools.ts';

/** An address a client-side proxy might already have put in the header. */
const UPSTREAM_CLIENT = '203.0.113.7';

/**
 * The client's own address (lbdrill connects from a distinct loopback address, so it
 * cannot be confused with the LB's) is in X-Forwarded-For, and an existing chain is kept.
 */
export const headersForwardedFor: Check = {
  id: 'headers.forwarded-for',
  title: 'X-Forwarded-For carries the client address',
  severity: 'must',
  needs: ['forwarded-headers'],
  needsPool: true,
  async run(ctx) {
    const client = ctx.client.localAddress;
    const expected = `X-Forwarded-For ends with ${client}; an incoming ${UPSTREAM_CLIENT} is kept before it`;
    const plain = await probeBackendRequest(ctx, `${contractPool(ctx).pathPrefix}headers/xff`);
    const chained = await probeBackendRequest(ctx, `${contractPool(ctx).pathPrefix}headers/xff-chain`, { 'x-forwarded-for': UPSTREAM_CLIENT });
    if (!plain.recorded || !chained.recorded) {
      return fail(expected, `request did not reach a backend (client got ${plain.status}/${chained.status})`);
    }
    const xff = headerValue(plain.recorded, 'x-forwarded-for');
    const xffChain = headerValue(chained.recorded, 'x-forwarded-for');
    const evidence = { clientAddress: client, xForwardedFor: xff ?? null, withExistingChain: xffChain ?? null, xRealIp: headerValue(plain.recorded, 'x-real-ip') ?? null };
    const last = (v: string | undefined): string | undefined => v?.split(',').map((s) => s.trim()).at(-1);
    if (last(xff) !== client) return fail(expected, xff ? `X-Forwarded-For: ${xff}` : 'no X-Forwarded-For header', evidence);
    if (last(xffChain) !== client) return fail(expected, `with an incoming chain the backend got X-Forwarded-For: ${xffChain ?? '(none)'}`, evidence);
    // The chain a client-side proxy started must survive: the backend's view of who asked depends on it.
    const hops = xffChain!.split(',').map((h) => h.trim());
    if (!hops.slice(0, -1).includes(UPSTREAM_CLIENT)) return fail(expected, `the incoming chain was dropped: the backend got X-Forwarded-For: ${xffChain}`, evidence);
    return pass(expected, `X-Forwarded-For: ${xff}; with a chain: ${xffChain}`, evidence);
  },
};
