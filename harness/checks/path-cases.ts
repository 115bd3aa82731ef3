import type { CheckContext, CheckOutcome } from './check.ts';
import { fail, pass } from './check.ts';
import { contractPool } from '../contracts/pools.ts';

/** A request path and the path the backend must receive for it. */
export interface PathCase {
  send: string;
  expect: string;
}

/** How long a backend may take to record a request the LB already answered. */
const RECORD_WAIT_MS = 2000;

/**
 * Sends each case through the LB and compares the raw path the backend recorded,
 * byte for byte (percent-encoding and query included); the server that recorded it must
 * be one of the contract's pool (a catch-all frontend answering is not the contract).
 */
export async function checkPathCases(ctx: CheckContext, cases: readonly PathCase[]): Promise<CheckOutcome> {
  const pool = contractPool(ctx);
  const members = new Set([...pool.primaries, ...pool.backups].map((b) => b.backend.id));
  const rows: Array<{ sent: string; expected: string; received: string | null; backend: string | null; status: number | string }> = [];
  for (const c of cases) {
    const id = ctx.nextId();
    const res = await ctx.client.send(ctx.app, { path: c.send, headers: ctx.tag(id) });
    const got = res.status !== undefined && res.status < 500 ? await ctx.waitReceived(id, RECORD_WAIT_MS) : ctx.received(id);
    rows.push({ sent: c.send, expected: c.expect, received: got?.rawPath ?? null, backend: got?.backend ?? null, status: res.status ?? res.error?.kind ?? 'no response' });
  }
  const wrong = rows.filter((r) => r.received !== r.expected || (r.backend !== null && !members.has(r.backend)));
  const expected = `backend paths ${cases.map((c) => c.expect).join(', ')}, each received by a server of ${pool.configName}`;
  if (wrong.length === 0) return pass(expected, `all ${rows.length} paths arrived as expected`, { requests: rows });
  const first = wrong[0]!;
  const observed =
    first.received === null
      ? `${first.sent} never reached a backend (client got ${first.status})`
      : first.received !== first.expected
        ? `${first.sent} reached the backend as ${first.received}, expected ${first.expected}`
        : `${first.sent} reached ${first.backend}, which is not a server of ${pool.configName} (the pool serving ${pool.probePath})`;
  return fail(expected, wrong.length > 1 ? `${observed} (+${wrong.length - 1} more)` : observed, { requests: rows });
}
