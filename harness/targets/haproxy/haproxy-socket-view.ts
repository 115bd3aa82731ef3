import { haproxySocketCommand, parseServersState } from './haproxy-socket.ts';
import { PolledView, type ViewedServer } from '../../runtime/polled-view.ts';

/** A deployed HAProxy's stats socket, read with `show servers state` every poll. */
export class HaproxySocketView extends PolledView {
  readonly title: string;
  readonly #socket: string;

  constructor(socket: string, pollMs: number) {
    super(pollMs);
    this.#socket = socket;
    this.title = `HAProxy stats socket ${socket}`;
  }

  async states(): Promise<ViewedServer[]> {
    return parseServersState(await haproxySocketCommand(this.#socket, 'show servers state'));
  }
}
