import type { LbResponse } from '../client/lb-client.ts';
import type { BackendBinding, CheckContext } from './check.ts';
import type { NodeMapContract } from '../contracts/node-map.ts';
import { contractPool } from '../contracts/pools.ts';

/** The map value (master1, ...) whose server answered, from the backend's upstream address; else a description. */
export function answeredBy(ctx: CheckContext, map: NodeMapContract, res: LbResponse): string {
  const id = res.headers['x-lbdrill-backend'];
  if (typeof id !== 'string') return `status ${res.status ?? res.error?.kind}`;
  const binding = ctx.backends.find((b) => b.backend.id === id);
  const value = Object.entries(map.targets).find(([, address]) => address === binding?.upstream.address)?.[0];
  return value ?? id;
}

/** The config's server at the address the profile gives a map value (master1 -> 10.0.0.41:3001), if the config has one there. */
export function serverAt(ctx: CheckContext, map: NodeMapContract, master: string): BackendBinding | undefined {
  return ctx.backends.find((b) => b.upstream.address === map.targets[master]);
}

/** Sends a request for `node` (the map's header set to it). */
export function askFor(ctx: CheckContext, map: NodeMapContract, node: string, extra: Record<string, string> = {}, timeoutMs = 10_000): Promise<LbResponse> {
  return ctx.client.send(ctx.app, { path: `${contractPool(ctx).pathPrefix}v3/catalog/${encodeURIComponent(node)}`, headers: ctx.tag(ctx.nextId(), { [map.header]: node, ...extra }), timeoutMs });
}
