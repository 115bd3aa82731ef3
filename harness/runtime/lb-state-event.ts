/** A server state as the LB itself reports it. */
export type LbServerState = 'up' | 'down' | 'drain' | 'maint';

/** One state change the LB reported, timed when lbdrill received it. */
export interface LbStateEvent {
  /** epoch ms (monotonic clock, like probe samples) when lbdrill read the report. */
  atMs: number;
  pool: string;
  /** the server's name in the LB's config (HAProxy `server NAME`, reference `name`). */
  server: string;
  state: LbServerState;
  /** the LB's own words ("Layer4 connection problem, info: \"Connection refused\""). */
  reason: string;
}
