import type { Check } from './check.ts';
import { contractPool } from '../contracts/pools.ts';
import { fail, pass } from './check.ts';

const PERMANENT = new Set([301, 308]);
/** Under the pool's prefix: a path and a query with an escape, which the redirect must keep byte for byte. */
const PROBE_REST = 'auth/namespaces?limit=5&q=a%20b';

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Plain HTTP answers with a permanent redirect to https on the same host, path and
 * query. The Location names the production host and port; lbdrill judges scheme, host,
 * path and query, then follows it to the TLS listener that port was mapped to.
 */
export const tlsRedirectHttps: Check = {
  id: 'tls.redirect-https',
  title: 'plain HTTP redirected to https with host, path and query kept',
  severity: 'must',
  needs: ['redirect', 'tls-termination'],
  needsPool: true,
  async run(ctx) {
    // The plain listener clients type http:// into: port 80 where the config has it, not a stats or admin port.
    const plains = ctx.endpoints.filter((e) => !e.tls);
    const plain = plains.find((e) => e.originalPort === 80) ?? plains[0];
    const probePath = `${contractPool(ctx).pathPrefix}${PROBE_REST}`;
    const expected = `301/308 to https://${plain?.serverName ?? ctx.app.serverName}${probePath}, which then serves the request`;
    if (!plain) return fail(expected, 'the config has no plain HTTP listener', { listeners: ctx.endpoints });
    const res = await ctx.client.send(plain, { path: probePath });
    const location = header(res.headers.location);
    const evidence: Record<string, unknown> = { listenerPort: plain.originalPort, status: res.status ?? res.error?.kind, location };
    if (res.status === undefined) return fail(expected, `no response on port ${plain.originalPort}: ${res.error?.message}`, evidence);
    if (!PERMANENT.has(res.status)) return fail(expected, `status ${res.status}${location ? ` to ${location}` : ''}`, evidence);
    if (!location) return fail(expected, `${res.status} without a Location header`, evidence);
    let url: URL;
    try {
      url = new URL(location);
    } catch {
      return fail(expected, `${res.status} to a relative or invalid Location ${location}`, evidence);
    }
    const problems: string[] = [];
    if (url.protocol !== 'https:') problems.push(`scheme ${url.protocol.replace(':', '')}`);
    if (url.hostname !== plain.serverName) problems.push(`host ${url.hostname} (sent ${plain.serverName})`);
    if (url.pathname + url.search !== probePath) problems.push(`path and query ${url.pathname}${url.search}`);
    if (problems.length > 0) return fail(expected, `${res.status} to ${location}: wrong ${problems.join(', ')}`, evidence);

    const port = url.port ? Number(url.port) : 443;
    const tlsEndpoint = ctx.endpoints.find((e) => e.tls && e.originalPort === port);
    evidence.followedTo = tlsEndpoint ? `127.0.0.1:${tlsEndpoint.port} (port ${port} in the config)` : null;
    if (!tlsEndpoint) return fail(expected, `${res.status} to ${location}, but the config has no TLS listener on port ${port}`, evidence);
    const id = ctx.nextId();
    const followed = await ctx.client.send({ ...tlsEndpoint, serverName: url.hostname }, { path: url.pathname + url.search, headers: ctx.tag(id) });
    const recorded = followed.status !== undefined ? await ctx.waitReceived(id, 2000) : undefined;
    evidence.followedStatus = followed.status ?? followed.error?.kind;
    evidence.backendPath = recorded?.rawPath ?? null;
    if (followed.status === undefined || followed.status >= 400 || !recorded) {
      return fail(expected, `${res.status} to ${location}, but following it gave ${followed.status ?? followed.error?.message}`, evidence);
    }
    return pass(expected, `${res.status} to ${location}; followed: ${followed.status} from the backend (${recorded.rawPath})`, evidence);
  },
};
