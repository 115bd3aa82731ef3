/**
 * Runs one hostile vector through the LB and judges it by what reached the backends, byte for
 * byte. Vectors run one at a time: each backend's raw records are snapshotted before the
 * vector, and every byte after the snapshot belongs to this vector or to its sentinels, even on
 * upstream connections the LB pools. The window closes on the sentinels' answers: the LB
 * forwards the sentinels after the vector, and a backend records bytes before it answers them.
 */
import type { RawConnectionRecord, StartedBackend } from '../../fixtures/backend/index.ts';
import { RawHttpConnection, type RawEndpoint, type RawRead, type RawResponse } from '../client/raw-http-client.ts';
import { escapeBytes, frameRequests, type FramedRequest } from './http1-request-framing.ts';
import { SENTINEL_SEGMENT, sentinelBytes, type Vector, type VectorRequestParams } from './vectors.ts';

/** Connecting to the LB on loopback. */
const CONNECT_TIMEOUT_MS = 5_000;
/** The bundled configs cut a stalled head or body after 5 s; 3 s more for the LB to answer or close. */
const ANSWER_TIMEOUT_MS = 8_000;
/** A sentinel is a plain GET the backend answers at once. */
const SENTINEL_TIMEOUT_MS = 5_000;
/** Fresh-connection sentinels after each vector: one per api_pool server (2), so round robin reuses each pooled connection. */
const FRESH_SENTINELS = 2;
/** Backend bytes quoted in a verdict. */
const QUOTE_CHARS = 200;

/** What one vector came to on one target. */
export interface VectorResult {
  vector: string;
  verdict: 'pass' | 'fail';
  /** one line: why. */
  reason: string;
  /** what the client saw: "400", "closed", "200 from api-1, then closed", ... */
  client: string;
  /** everything of the vector that reached a backend (sentinels left out), escaped and cut short. */
  reachedBackend: string | null;
  rfc: string;
}

/** What the run needs to reach the LB and the backends. */
export interface VectorTarget {
  endpoint: RawEndpoint;
  backends: readonly StartedBackend[];
  prefix: string;
  /** a unique id per request. */
  nextId(): string;
}

type Snapshot = Map<StartedBackend, Map<number, number>>;

function snapshot(backends: readonly StartedBackend[]): Snapshot {
  return new Map(backends.map((b) => [b, new Map([...b.rawConnections].map(([seq, rec]) => [seq, rec.byteLength]))]));
}

/** Each connection's bytes since the snapshot, with where they came from. */
function since(before: Snapshot): Array<{ backend: string; connectionSeq: number; bytes: Buffer }> {
  const out: Array<{ backend: string; connectionSeq: number; bytes: Buffer }> = [];
  for (const [backend, lengths] of before) {
    for (const [seq, rec] of backend.rawConnections) {
      const bytes = concat(rec).subarray(lengths.get(seq) ?? 0);
      if (bytes.length > 0) out.push({ backend: backend.id, connectionSeq: seq, bytes });
    }
  }
  return out;
}

function concat(rec: RawConnectionRecord): Buffer {
  return Buffer.concat(rec.chunks);
}

function header(response: RawResponse, name: string): string | undefined {
  return response.headers.find(([n]) => n.toLowerCase() === name)?.[1];
}

function describeRead(read: RawRead): string {
  switch (read.kind) {
    case 'response': {
      const backend = header(read.response, 'x-lbdrill-backend');
      return String(read.response.status) + (backend ? ` from ${backend}` : '');
    }
    case 'closed':
      return 'closed';
    case 'timeout':
      return `no answer in ${read.afterMs} ms`;
    case 'invalid':
      return `not HTTP/1.1 (${read.reason}): ${escapeBytes(read.bytes, 60)}`;
  }
}

function isSentinelAnswer(response: RawResponse, id: string): boolean {
  return response.status === 200 && header(response, 'x-lbdrill-backend') !== undefined && response.body.includes(SENTINEL_SEGMENT + id);
}

/** A sentinel on a fresh connection: its answer, or why there is none. */
async function freshSentinel(target: VectorTarget, params: VectorRequestParams): Promise<string | undefined> {
  await using conn = await RawHttpConnection.open(target.endpoint, CONNECT_TIMEOUT_MS);
  await conn.write([sentinelBytes(params)]);
  const read = await conn.read(SENTINEL_TIMEOUT_MS);
  if (read.kind === 'response' && isSentinelAnswer(read.response, params.id)) return undefined;
  return `sentinel ${params.id} on a fresh connection: ${describeRead(read)}`;
}

/** Sends the vector, then the sentinels, and judges what reached the backends. */
export async function runVector(target: VectorTarget, vector: Vector, host: string): Promise<VectorResult> {
  const params: VectorRequestParams = { id: target.nextId(), host, prefix: target.prefix };
  const before = snapshot(target.backends);
  const client: string[] = [];
  const problems: string[] = [];
  let forwardedAnswer = false;
  {
    await using conn = await RawHttpConnection.open(target.endpoint, CONNECT_TIMEOUT_MS);
    await conn.write(vector.pieces(params));
    const first = await conn.read(ANSWER_TIMEOUT_MS);
    client.push(describeRead(first));
    forwardedAnswer = first.kind === 'response' && header(first.response, 'x-lbdrill-backend') !== undefined;
    if (first.kind === 'timeout') problems.push(`the LB neither answered nor closed within ${ANSWER_TIMEOUT_MS} ms`);
    if (first.kind === 'response' && first.response.status === 101) problems.push('the LB relayed 101 Switching Protocols');
    if (first.kind === 'response' && !conn.closed && first.response.status !== 101) {
      if (forwardedAnswer && vector.closeAfterForward) {
        // RFC 9112 §6.3 rule 3: after forwarding such a request the connection MUST close.
        const next = await conn.read(SENTINEL_TIMEOUT_MS);
        client.push(describeRead(next));
        if (next.kind !== 'closed') problems.push(`the client connection stayed open after a forwarded ${vector.id} (${describeRead(next)})`);
      } else {
        const sentinel = { ...params, id: target.nextId() };
        await conn.write([sentinelBytes(sentinel)]);
        for (;;) {
          const next = await conn.read(SENTINEL_TIMEOUT_MS);
          client.push(describeRead(next));
          if (next.kind === 'response' && isSentinelAnswer(next.response, sentinel.id)) break;
          if (next.kind === 'response') problems.push(`an extra response on the client connection before the sentinel's: ${describeRead(next)}`);
          else {
            if (next.kind !== 'closed') problems.push(`sentinel on the same connection: ${describeRead(next)}`);
            break;
          }
        }
      }
    }
  }
  for (let i = 0; i < FRESH_SENTINELS; i++) {
    const problem = await freshSentinel(target, { ...params, id: target.nextId() });
    if (problem) problems.push(problem);
  }
  return judge(vector, params, since(before), client.join(', then '), problems);
}

/** The verdict from the backend's bytes, the client's view and the problems seen on the way. */
function judge(
  vector: Vector,
  params: VectorRequestParams,
  received: Array<{ backend: string; connectionSeq: number; bytes: Buffer }>,
  client: string,
  problems: string[],
): VectorResult {
  const ours: FramedRequest[] = [];
  const reached: Buffer[] = [];
  for (const conn of received) {
    const framing = frameRequests(conn.bytes);
    for (const request of framing.requests) {
      if (request.target.includes(SENTINEL_SEGMENT)) continue;
      ours.push(request);
      reached.push(request.raw);
    }
    if (framing.leftover.length > 0) {
      reached.push(framing.leftover);
      const how = framing.problem ?? 'an incomplete request';
      problems.push(`${conn.backend} connection ${conn.connectionSeq}: ${framing.leftover.length} bytes it cannot frame (${how})`);
    }
  }
  const smuggled = ours.filter((r) => !r.raw.includes(params.id));
  if (smuggled.length > 0) problems.push(`a request the client never sent reached a backend: ${smuggled.map((r) => `${r.method} ${r.target}`).join(', ')}`);
  if (ours.length > 1) problems.push(`${ours.length} requests reached a backend`);
  if (ours.length > 0 && vector.safe === 'reject') problems.push('it reached a backend; only a rejection is safe');
  const one = ours[0];
  if (ours.length === 1 && one && vector.forwarded) {
    const unsafe = vector.forwarded(one, params);
    if (unsafe) problems.push(unsafe);
  }
  const reachedBackend = reached.length > 0 ? escapeBytes(Buffer.concat(reached), QUOTE_CHARS) : null;
  const outcome = reached.length === 0 ? 'rejected' : 'forwarded one request';
  return {
    vector: vector.id,
    verdict: problems.length === 0 ? 'pass' : 'fail',
    reason: problems.length === 0 ? outcome : problems.join('; '),
    client,
    reachedBackend,
    rfc: vector.rfc,
  };
}
