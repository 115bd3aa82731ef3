import type { Endpoint } from '../client/lb-client.ts';
import type { Binding } from '../contracts/binding.ts';
import type { PoolMatch } from '../contracts/pools.ts';
import type { ListenerRef } from '../targets/config-plan.ts';

/**
 * The listener lbdrill sends the profile's traffic to. Where the config says which pools a listener
 * routes to, the first (TLS first) that routes to a pool the profile is bound to by name or --pool;
 * otherwise the first TLS listener, else the first. Two listeners on one port with different
 * addresses are different front doors (HAProxy auth.cfg's c1 and c2): the choice is a binding.
 */
export function chooseEntryPoint(
  endpoints: readonly Endpoint[],
  listeners: readonly ListenerRef[],
  matches: readonly PoolMatch[],
  sourceFile: string,
): { app: Endpoint | undefined; binding?: Binding } {
  const ordered = [...endpoints.filter((e) => e.tls), ...endpoints.filter((e) => !e.tls)];
  const wanted = new Set(matches.flatMap((m) => (m.configName ? [m.configName] : [])));
  const routing = ordered.find((e) => e.pools?.some((p) => wanted.has(p)));
  const app = routing ?? ordered[0];
  if (app === undefined || !endpoints.some((e) => e.originalAddress !== undefined)) return { app };
  const ref = listeners.find((l) => l.port === app.originalPort && l.address === app.originalAddress);
  const routes = app.pools?.length ? `routes to ${app.pools.join(', ')}` : 'routes to no pool the config names';
  const why = routing ? `the listener that ${routes}, a pool the profile is bound to` : `the first listener (none routes to ${[...wanted].join(', ') || 'a bound pool'}); it ${routes}`;
  return {
    app,
    binding: {
      what: 'entry point',
      value: `${app.originalAddress ?? '*'}:${app.originalPort}`,
      from: 'config',
      file: ref?.file ?? sourceFile,
      ...(ref ? { line: ref.line } : {}),
      detail: `${why}; the others: ${endpoints.filter((e) => e !== app).map((e) => `${e.originalAddress ?? '*'}:${e.originalPort}`).join(', ')}`,
    },
  };
}
