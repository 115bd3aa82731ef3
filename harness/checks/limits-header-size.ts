import type { Check, CheckContext } from './check.ts';
import { fail, pass } from './check.ts';
import { hostHeader } from '../client/lb-client.ts';
import { describeLimit, effectiveLimit, limitsContract, listenerLimits } from '../contracts/limits.ts';
import { contractPool } from '../contracts/pools.ts';

/** How far under and over the limit the two headers are: covers what each proxy counts (CRLF, the request line, headers the client library adds). */
const MARGIN_BYTES = 256;
/** Bytes of the request head besides the request line, Host, X-Lbdrill-Id and the padding header: what undici adds (connection: keep-alive) with room to spare. */
const CLIENT_HEADERS_BYTES = 64;
/** How long a backend may take to record a request the LB answered. */
const RECORD_WAIT_MS = 2000;
const PAD_HEADER = 'x-lbdrill-pad';
/** Statuses that refuse an oversized header (RFC 6585 §5; nginx, HAProxy and Apache answer 400). */
const REFUSALS = new Set([400, 431]);

interface Attempt {
  id: string;
  /** bytes of the padding header's field line (name, colon, space, value, CRLF). */
  fieldBytes: number;
  /** bytes of the whole request head, as far as lbdrill writes it. */
  headBytes: number;
  status: number | string;
  /** the backend that recorded it, and the length of the padding value it got. */
  reachedBackend: string | null;
  forwardedValueBytes: number | null;
}

/**
 * Sends a request whose padding header brings the header (field line, or whole head, as the
 * proxy counts) to `targetBytes`, and reports what the client and the backends saw.
 */
async function sendPadded(ctx: CheckContext, path: string, scope: 'field' | 'head', targetBytes: number): Promise<Attempt> {
  const id = ctx.nextId();
  const rest = `GET ${path} HTTP/1.1\r\nhost: ${hostHeader(ctx.app)}\r\nx-lbdrill-id: ${id}\r\n\r\n`.length + CLIENT_HEADERS_BYTES;
  const fieldBytes = scope === 'field' ? targetBytes : targetBytes - rest;
  const value = 'a'.repeat(fieldBytes - `${PAD_HEADER}: \r\n`.length);
  const res = await ctx.client.send(ctx.app, { path, headers: ctx.tag(id, { [PAD_HEADER]: value }) }, { fresh: true });
  const got = res.status !== undefined && res.status < 400 ? await ctx.waitReceived(id, RECORD_WAIT_MS) : ctx.received(id);
  const forwarded = got?.headers[PAD_HEADER];
  return {
    id,
    fieldBytes,
    headBytes: fieldBytes + rest,
    status: res.status ?? res.error?.kind ?? 'no response',
    reachedBackend: got?.backend ?? null,
    forwardedValueBytes: typeof forwarded === 'string' ? forwarded.length : null,
  };
}

/**
 * limits.header-size: a header just under the listener's limit (the config's, or the profile's
 * maximum when the config allows more) is forwarded whole; one just over it is refused with 400
 * or 431 and reaches no backend; the LB serves the next request.
 */
export const limitsHeaderSize: Check = {
  id: 'limits.header-size',
  title: 'a header just under the limit is forwarded, one over it gets 400/431 and reaches no backend',
  severity: 'must',
  needs: [],
  needsPool: true,
  async run(ctx) {
    const pool = contractPool(ctx);
    const limits = listenerLimits(ctx);
    const contract = limitsContract(ctx);
    const { value: limitBytes, capped } = effectiveLimit(limits.headerBytes, contract.headerBytesMax);
    const scope = limits.headerBytes.scope;
    const path = `${pool.pathPrefix}header-size`;
    const under = await sendPadded(ctx, path, scope, limitBytes - MARGIN_BYTES);
    const over = await sendPadded(ctx, path, scope, limitBytes + MARGIN_BYTES);
    const afterId = ctx.nextId();
    const after = await ctx.client.send(ctx.app, { path: pool.probePath, headers: ctx.tag(afterId) }, { fresh: true });
    const afterBackend = after.headers['x-lbdrill-backend'];
    // The follow-up was recorded: an over-limit request the LB had forwarded would be recorded too by now.
    if (typeof afterBackend === 'string') await ctx.waitReceived(afterId, RECORD_WAIT_MS);
    const overReached = ctx.received(over.id) ?? null;
    const limitText = `${describeLimit(limits.headerBytes, 'bytes')}${capped ? `, capped at the profile's ${contract.headerBytesMax} B` : ''}`;
    const unit = scope === 'field' ? 'header line' : 'request head';
    const expected = `a ${limitBytes - MARGIN_BYTES} B ${unit} forwarded whole to ${pool.configName}; a ${limitBytes + MARGIN_BYTES} B one answered 400 or 431 and never forwarded (limit ${limitText}, margin ${MARGIN_BYTES} B); the next request served`;
    const evidence = { limit: limits.headerBytes, limitBytes, cappedByProfile: capped, marginBytes: MARGIN_BYTES, scope, under, over: { ...over, reachedBackend: over.reachedBackend ?? overReached?.backend ?? null }, after: { status: after.status ?? after.error?.kind, backend: afterBackend ?? null } };
    const underValue = under.fieldBytes - `${PAD_HEADER}: \r\n`.length;
    if (under.reachedBackend === null || under.forwardedValueBytes !== underValue) {
      return fail(expected, `the ${under.headBytes} B request under the limit ${under.reachedBackend === null ? `never reached a backend (client got ${under.status})` : `reached ${under.reachedBackend} with ${under.forwardedValueBytes ?? 'no'} B of its ${underValue} B header`}`, evidence);
    }
    if (over.reachedBackend !== null || overReached !== null) {
      return fail(expected, `the ${over.fieldBytes} B ${PAD_HEADER} line (${over.headBytes} B head) over the limit reached ${over.reachedBackend ?? overReached?.backend} (client got ${over.status})${capped ? `: the config allows ${limitText}` : ''}`, evidence);
    }
    if (typeof over.status !== 'number' || !REFUSALS.has(over.status)) {
      return fail(expected, `the request over the limit got ${over.status}, not 400 or 431`, evidence);
    }
    if (typeof afterBackend !== 'string') return fail(expected, `after the refusal, GET ${pool.probePath} got ${after.status ?? after.error?.kind} and no backend answer`, evidence);
    return pass(expected, `${under.headBytes} B head forwarded whole, ${over.headBytes} B head answered ${over.status} and never forwarded, next request served by ${afterBackend}`, evidence);
  },
};

