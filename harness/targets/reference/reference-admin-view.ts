import { LbdrillError } from '../../errors.ts';
import type { LbServerState } from '../../runtime/lb-state-event.ts';
import { fetchViewText, PolledView, type ViewedServer } from '../../runtime/polled-view.ts';

/** A deployed reference LB's admin API: `GET /v1/upstreams` with the bearer token from an environment variable, every poll. */
export class ReferenceAdminView extends PolledView {
  readonly title: string;
  readonly #url: string;
  readonly #token: string;

  constructor(admin: string, tokenEnv: string, pollMs: number) {
    super(pollMs);
    const token = process.env[tokenEnv];
    if (!token) throw new LbdrillError('LBDRILL_ERR_USAGE', `view.reference.token_env: the environment variable ${tokenEnv} is not set (the admin API's bearer token)`);
    this.#token = token;
    this.#url = new URL('/v1/upstreams', admin).href;
    this.title = `reference LB admin API ${admin}`;
  }

  async states(): Promise<ViewedServer[]> {
    const body = JSON.parse(await fetchViewText(this.#url, { authorization: `Bearer ${this.#token}` })) as { upstreams: Array<{ name: string; servers: Array<{ name: string; state: LbServerState }> }> };
    return body.upstreams.flatMap((u) => u.servers.map((s) => ({ pool: u.name, server: s.name, state: s.state })));
  }
}
