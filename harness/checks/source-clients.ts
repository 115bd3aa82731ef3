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
