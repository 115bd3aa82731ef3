import type { Check } from './check.ts';
import { fail, pass } from './check.ts';
import { headerValue, probeBackendRequest } from './header-probe.ts';
import { contractPool } from '../contracts/pools.ts';

/** X-Forwarded-Proto tells the backend the scheme the client used. */
export const headersForwardedProto: Check = {
  id: 'headers.forwarded-proto',
  title: 'X-Forwarded-Proto says https for TLS clients',
  severity: 'should',
  needs: ['forwarded-headers', 'tls-termination'],
  needsPool: true,
  async run(ctx) {
    const scheme = ctx.app.tls ? 'https' : 'http';
    const expected = `X-Forwarded-Proto: ${scheme}`;
    const { recorded, status } = await probeBackendRequest(ctx, `${contractPool(ctx).pathPrefix}headers/proto`);
    if (!recorded) return fail(expected, `request did not reach a backend (client got ${status})`);
    const proto = headerValue(recorded, 'x-forwarded-proto');
    const evidence = { listenerTls: ctx.app.tls, xForwardedProto: proto ?? null };
    if (proto?.split(',')[0]?.trim().toLowerCase() === scheme) return pass(expected, `X-Forwarded-Proto: ${proto}`, evidence);
    return fail(expected, proto ? `X-Forwarded-Proto: ${proto}` : 'no X-Forwarded-Proto header', evidence);
  },
};
