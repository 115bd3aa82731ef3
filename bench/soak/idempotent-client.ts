import { createHash } from 'node:crypto';
import { Agent, request } from 'undici';

/** How long one attempt may take to be answered in full: above the bundled config's connect_ms + read_ms (5 s + 30 s). */
export const ATTEMPT_TIMEOUT_MS = 45_000;
/** Attempts per idempotent request: the first and two retries. */
export const MAX_ATTEMPTS = 3;
const RETRY_PAUSE_MS = 200;

/** One idempotent request as the soak sends it. */
export interface IdempotentRequest {
  method: 'GET' | 'PUT';
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
  /** Judges a 200's body; false counts the request as corrupt. */
  verify?: (body: Buffer) => boolean;
}

/** Tallies of every request the soak sent. */
export class SoakTally {
  /** Requests that got an answer (a complete response, any status) on some attempt. */
  answered = 0;
  /** Of those, answered only after one or more attempts without an answer. */
  retriedToAnswer = 0;
  /** Requests none of whose MAX_ATTEMPTS attempts got an answer. */
  lost = 0;
  /** 200s whose body failed `verify`. */
  corrupt = 0;
  /** Answers by status. */
  readonly statuses = new Map<number, number>();
  /** Why attempts got no answer, by error code. */
  readonly unanswered = new Map<string, number>();
  /** The last few lost requests, for the report. */
  readonly lostSamples: string[] = [];

  bump<K>(map: Map<K, number>, key: K): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }
}

/**
 * Sends idempotent requests (RFC 9110 §9.2.2) to the LB and counts them. An attempt is
 * answered when the whole response arrived: status line, head and the body as framed
 * (Content-Length or chunked to its last chunk). An attempt that is not (refused or reset
 * connection, a body cut short, nothing within ATTEMPT_TIMEOUT_MS) is retried after
 * RETRY_PAUSE_MS, at most MAX_ATTEMPTS attempts in all; a request is **lost** when none of
 * its attempts was answered. A 5xx is an answer (the LB said what went wrong) and is
 * counted by status, not as lost.
 */
export class IdempotentClient implements AsyncDisposable {
  readonly tally = new SoakTally();
  private readonly agent: Agent;
  private readonly origin: string;

  constructor(origin: string) {
    this.origin = origin;
    this.agent = new Agent({ keepAliveTimeout: 4000, connections: 64 });
  }

  async send(req: IdempotentRequest): Promise<void> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      try {
        const res = await request(`${this.origin}${req.path}`, {
          method: req.method,
          headers: req.headers,
          body: req.body,
          dispatcher: this.agent,
          headersTimeout: ATTEMPT_TIMEOUT_MS,
          bodyTimeout: ATTEMPT_TIMEOUT_MS,
          signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
        });
        const body = Buffer.from(await res.body.arrayBuffer());
        this.tally.answered++;
        if (attempt > 1) this.tally.retriedToAnswer++;
        this.tally.bump(this.tally.statuses, res.statusCode);
        if (res.statusCode === 200 && req.verify && !req.verify(body)) this.tally.corrupt++;
        return;
      } catch (err) {
        const e = err as { code?: string; name?: string; cause?: { code?: string } };
        this.tally.bump(this.tally.unanswered, e.code ?? e.cause?.code ?? e.name ?? 'error');
        if (attempt < MAX_ATTEMPTS) await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
      }
    }
    this.tally.lost++;
    this.tally.lostSamples.push(`${req.method} ${req.path}`);
    if (this.tally.lostSamples.length > 10) this.tally.lostSamples.shift();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.agent.destroy();
  }
}

/** Hex sha256 of a buffer. */
export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
