import type { Check, CheckContext, PoolBinding } from './check.ts';
import { fail, pass } from './check.ts';
import { backendPath, underPrefix } from './backend-path.ts';

/**
 * Paths that climb out of /api/ once a backend decodes and resolves them (research file §2):
 * encoded dots and slashes, doubled slashes, Tomcat's `;` parameters, backslashes, overlong
 * UTF-8 for '/', a NUL, and a plain dot segment. Sent byte for byte (LbClient writes the path raw).
 */
export const ESCAPE_VECTORS = [
  '/api/..%2fadmin',
  '/api/%2e%2e/admin',
  '/api/%2e%2e%2fadmin',
  '//admin',
  '/api/..;/admin',
  '/api\\..\\admin',
  '/api/%c0%af../admin',
  '/api/%00',
  '/api/../admin',
] as const;

/** How long a backend may take to record a request it answered. */
const RECORD_WAIT_MS = 2000;

/** What one path did through the LB. */
export interface PathOutcome {
  sent: string;
  status: number | string;
  /** the backend that answered, when one did. */
  backend: string | null;
  /** the profile pool of that backend. */
  pool: string | null;
  /** the request target the backend received, byte for byte. */
  received: string | null;
  /** how a lenient backend resolves it (backendPath). */
  resolved: string | null;
}

/** Sends `path` and finds what reached which backend of which profile pool. */
export async function sendPath(ctx: CheckContext, path: string): Promise<PathOutcome> {
  const id = ctx.nextId();
  const res = await ctx.client.send(ctx.app, { path, headers: ctx.tag(id) }, { fresh: true });
  const answeredBy = res.headers['x-lbdrill-backend'];
  const got = typeof answeredBy === 'string' ? await ctx.waitReceived(id, RECORD_WAIT_MS) : ctx.received(id);
  const backend = got?.backend ?? (typeof answeredBy === 'string' ? answeredBy : null);
  const pool = backend === null ? undefined : poolOf(ctx.pools, backend);
  return {
    sent: path,
    status: res.status ?? res.error?.kind ?? 'no response',
    backend,
    pool: pool?.name ?? null,
    received: got?.rawPath ?? null,
    resolved: got ? backendPath(got.rawPath) : null,
  };
}

function poolOf(pools: readonly PoolBinding[], backendId: string): PoolBinding | undefined {
  return pools.find((p) => [...p.primaries, ...p.backups].some((b) => b.backend.id === backendId));
}

/** A forwarded path stays under the prefix of the pool that answered it; one that reached no backend (refused) is safe. */
function escaped(ctx: CheckContext, o: PathOutcome): string | undefined {
  if (o.backend === null) return undefined;
  const pool = ctx.pools.find((p) => p.name === o.pool);
  if (pool === undefined) return `${o.sent} reached ${o.backend}, a server of no pool of the profile`;
  if (o.resolved === null) return `${o.sent} reached ${o.backend} of ${pool.configName}, which could not parse it (answered ${o.status}); a laxer backend might`;
  if (!underPrefix(o.resolved, pool.pathPrefix)) return `${o.sent} reached ${o.backend} of ${pool.configName} (${pool.pathPrefix}) as ${o.received}, which a backend resolves to ${o.resolved}`;
  return undefined;
}

/**
 * path.prefix-escape: every vector is refused, or reaches a backend as a path that (decoded,
 * dot segments resolved, as the laxest backend does) stays under the prefix of the pool whose
 * server answered it: /api/ for api_pool, / for the catch-all.
 */
export const pathPrefixEscape: Check = {
  id: 'path.prefix-escape',
  title: 'encoded dots, slashes, backslashes, `;` and NUL never take a request out of its pool prefix',
  severity: 'must',
  needs: [],
  async run(ctx) {
    const outcomes: PathOutcome[] = [];
    for (const v of ESCAPE_VECTORS) outcomes.push(await sendPath(ctx, v));
    const escapes = outcomes.map((o) => escaped(ctx, o)).filter((e): e is string => e !== undefined);
    const evidence = { vectors: outcomes, normaliser: 'backendPath: %XX decoded once (%2F too), overlong UTF-8 /.\\, NUL ends, \\ is /, ;params dropped, // merged, dot segments resolved' };
    const expected = `each of ${ESCAPE_VECTORS.length} vectors refused, or forwarded as a path that resolves under the prefix of the pool that answered (${ctx.pools.map((p) => `${p.configName} ${p.pathPrefix}`).join(', ')})`;
    const summary = outcomes.map((o) => `${o.sent} ${o.backend === null ? o.status : `-> ${o.pool} ${o.received}`}`).join('; ');
    if (escapes.length === 0) return pass(expected, summary, evidence);
    return fail(expected, escapes.length > 1 ? `${escapes[0]} (+${escapes.length - 1} more)` : (escapes[0] as string), evidence);
  },
};
