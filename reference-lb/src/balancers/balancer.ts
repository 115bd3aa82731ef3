import type { IncomingMessage } from 'node:http';
import type { UpstreamServer } from '../upstream-server.ts';

/**
 * Chooses the server for one attempt. Implementations skip servers that are not
 * `available` and those in `exclude` (already tried for this request), and return
 * undefined when none is left. `request` is there for hash and sticky balancers.
 */
export interface Balancer {
  pick(exclude: ReadonlySet<UpstreamServer> | undefined, request: IncomingMessage): UpstreamServer | undefined;
}
