import { LbdrillError } from '../../errors.ts';
import type { LbProcess } from '../../process/lb-process.ts';
import { nowMs } from '../../probe/probe-stream.ts';
import type { LbServerState } from '../../runtime/lb-state-event.ts';
import { haproxySocketCommand, parseServersState } from './haproxy-socket.ts';
import { RuntimeApi, type ServerCommand } from '../../runtime/runtime-api.ts';

/**
 * HAProxy logs every server transition on stderr in foreground mode (`-db`):
 *   [WARNING]  (7974) : Server api_pool/backend-api-1 is DOWN, reason: Layer4 connection problem, ...
 *   [WARNING]  (7974) : Server api_pool/backend-api-1 is UP, reason: Layer7 check passed, ...
 *   [WARNING]  (7974) : Server api_pool/backend-api-1 is going DOWN for maintenance. ...
 *   [WARNING]  (7974) : Server api_pool/backend-api-1 is UP/READY (leaving forced maintenance).
 *   [WARNING]  (7974) : Server api_pool/backend-api-1 enters drain state. ...
 * Only these stderr lines count: a `log` target lbdrill maps to stdout repeats each one as a log
 * line, and a config that logs to a syslog address (`log 127.0.0.1 local0`) sends none there.
 */
const TRANSITION = /^\[(?:WARNING|NOTICE|ALERT)\]\s.*?Server ([^/\s]+)\/(\S+) (is UP\/READY|is UP|is DOWN|is going DOWN for maintenance|enters drain state)(.*)$/;

function stateOf(words: string): LbServerState {
  if (words.startsWith('is going DOWN')) return 'maint';
  if (words.startsWith('enters drain')) return 'drain';
  return words.startsWith('is UP') ? 'up' : 'down';
}

/** HAProxy's runtime API: transitions from its stderr log as they are written, commands over the stats socket. */
export class HaproxyRuntime extends RuntimeApi {
  readonly title = 'HAProxy stats socket';
  readonly eventSource = 'HAProxy "Server ... is DOWN/UP" log lines on stderr, timed as lbdrill reads them';
  readonly #socketPath: string;
  readonly #onLine: (line: string) => void;
  readonly #process: LbProcess;

  constructor(process: LbProcess, socketPath: string) {
    super();
    this.#socketPath = socketPath;
    this.#process = process;
    this.#onLine = (line: string) => {
      const m = TRANSITION.exec(line);
      if (!m) return;
      this.record({ atMs: nowMs(), pool: m[1]!, server: m[2]!, state: stateOf(m[3]!), reason: m[4]!.replace(/^[,.]\s*(reason:\s*)?/, '').slice(0, 200) });
    };
    process.on('line', this.#onLine);
  }

  /** Sends one command on the stats socket and returns HAProxy's answer. */
  send(command: string): Promise<string> {
    return haproxySocketCommand(this.#socketPath, command);
  }

  async command(pool: string, server: string, command: ServerCommand): Promise<void> {
    const answer = await this.send(`set server ${pool}/${server} state ${command}`);
    if (answer !== '') throw new LbdrillError('LBDRILL_ERR_RUNTIME_API', `HAProxy refused "set server ${pool}/${server} state ${command}": ${answer.split('\n')[0]}`);
  }

  async setMapEntry(map: string, key: string, value: string): Promise<void> {
    // `set map` only changes an existing key; `add map` adds a new one.
    let answer = await this.send(`set map ${map} ${key} ${value}`);
    if (/entry not found/i.test(answer)) answer = await this.send(`add map ${map} ${key} ${value}`);
    if (answer !== '') throw new LbdrillError('LBDRILL_ERR_RUNTIME_API', `HAProxy refused to set ${key} in ${map}: ${answer.split('\n')[0]}`);
  }

  async states(): Promise<Array<{ pool: string; server: string; state: LbServerState }>> {
    return parseServersState(await this.send('show servers state'));
  }

  async close(): Promise<void> {
    this.#process.off('line', this.#onLine);
  }
}
