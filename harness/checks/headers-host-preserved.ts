import type { Check } from './check.ts';
import { fail, pass } from './check.ts';
import { headerValue, probeBackendRequest } from './header-probe.ts';
import { contractPool } from '../contracts/pools.ts';

/** The backend sees the Host the client asked for, not the upstream's name. */
export const headersHostPreserved: Check = {
  id: 'headers.host-preserved',
  title: 'Host header preserved to the backend',
  severity: 'should',
  needs: [],
  needsPool: true,
  async run(ctx) {
    const host = ctx.app.serverName;
    const expected = `Host: ${host}`;
    const { recorded, status } = await probeBackendRequest(ctx, `${contractPool(ctx).pathPrefix}headers/host`);
    if (!recorded) return fail(expected, `request did not reach a backend (client got ${status})`);
    const got = headerValue(recorded, 'host');
    const forwardedHost = headerValue(recorded, 'x-forwarded-host');
    const evidence = { sent: host, host: got ?? null, xForwardedHost: forwardedHost ?? null };
    const bare = (v: string | undefined): string | undefined => v?.split(',')[0]?.trim().replace(/:\d+$/, '');
    if (bare(got) === host) return pass(expected, `Host: ${got}`, evidence);
    return fail(expected, `Host: ${got ?? '(none)'}${forwardedHost ? `, X-Forwarded-Host: ${forwardedHost}` : ''}`, evidence);
  },
};
