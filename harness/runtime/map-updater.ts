/** What a map change did besides taking effect: reload time, worker pids, the LB's own log lines, the file written. */
export type MapChangeDetails = Record<string, unknown>;

/**
 * Changes one entry of the LB's routing map at run time, the way an operator's map updater
 * does it on that LB: HAProxy `set map` on the stats socket, the reference LB's admin API,
 * nginx a rewritten map include and a graceful reload, Apache a rewritten `RewriteMap txt:`
 * file. `set` resolves once the LB has taken the change (the API answered, the reload is
 * confirmed, the new file is in place) and throws LBDRILL_ERR_RUNTIME_API when it did not.
 */
export interface MapUpdater {
  /** how a change is made, for the report ("graceful reload (SIGHUP) after rewriting /run/.../nodes-nginx.map"). */
  readonly title: string;
  /** what is changed: the run-dir copy of the map file, or the map's name. */
  readonly map: string;
  set(key: string, value: string): Promise<MapChangeDetails>;
}
