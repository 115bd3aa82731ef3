import { LbClient } from '../client/lb-client.ts';
import type { CheckContext } from './check.ts';

/**
 * Clients from distinct loopback addresses (127.0.0.0/8 is all local), one per /24 so
 * per-address limits and address hashing see distinct clients. Closed by `close()`.
 */
export function sourceClients(ctx: CheckContext, count: number, firstOctet = 60): { clients: LbClient[]; close: () => Promise<void> } {
  const clients = Array.from({ length: count }, (_, i) => new LbClient({ ca: ctx.caPem, localAddress: `127.${firstOctet + Math.floor(i / 250)}.${i % 250}.9` }));
  return { clients, close: async () => void (await Promise.allSettled(clients.map((c) => c.close()))) };
}

/** Answers per X-Lbdrill-Backend (`status N` / error kind when no backend answered), and the time they were in flight. */
export interface AnswerCounts {
  counts: Record<string, number>;
  /** per key, the summed duration of its requests in ms: its share of the time in flight. */
  busyMs: Record<string, number>;
}

/**
 * Sends `requests` requests, `concurrency` at a time, request i from `clients[i % n]`, and
 * counts the answers per X-Lbdrill-Backend.
 */
export async function countAnswers(ctx: CheckContext, clients: readonly LbClient[], options: { requests: number; concurrency: number; path: (i: number) => string; headers?: Record<string, string> }): Promise<AnswerCounts> {
  const counts: Record<string, number> = {};
  const busyMs: Record<string, number> = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (next < options.requests) {
        const i = next++;
        const res = await clients[i % clients.length]!.send(ctx.app, { path: options.path(i), headers: ctx.tag(ctx.nextId(), options.headers) });
        const b = res.headers['x-lbdrill-backend'];
        const key = typeof b === 'string' ? b : `status ${res.status ?? res.error?.kind}`;
        counts[key] = (counts[key] ?? 0) + 1;
        busyMs[key] = (busyMs[key] ?? 0) + res.durationMs;
      }
    }),
  );
  return { counts, busyMs };
}
