/**
 * A strict RFC 9112 request framer for what a backend received on one upstream connection: it
 * splits the bytes into requests and stops at the first byte it cannot frame without guessing
 * (bare LF or CR, obs-fold, CL with TE, differing or malformed CL, a coding other than a final
 * `chunked`). What it cannot frame is the leftover, with the reason; a lenient parser would
 * guess, and a guess is exactly where two parsers disagree.
 */

/** One request framed from upstream bytes. */
export interface FramedRequest {
  method: string;
  target: string;
  version: string;
  /** field lines as received (name case kept), in order. */
  headers: Array<[name: string, value: string]>;
  /** the message body as framed (chunked bodies decoded). */
  body: Buffer;
  /** the request's bytes exactly as received. */
  raw: Buffer;
}

/** A connection's bytes split into requests, and what is left. */
export interface Framing {
  requests: FramedRequest[];
  /** bytes after the last framed request: an incomplete request or one that cannot be framed. */
  leftover: Buffer;
  /** why the leftover could not be framed; undefined when there is none or it is only incomplete. */
  problem: string | undefined;
}

/** RFC 9110 §5.6.2 tchar. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 9112 §3.2 request-target: printable ASCII (0x21-0x7e) without `#` (no fragment, RFC 9110 §4.1). */
const TARGET = /^[!"$-~]+$/;
const VERSION = /^HTTP\/\d\.\d$/;
/** RFC 9110 §5.5 field-value: VCHAR, obs-text, SP and HTAB; no CR, LF or NUL. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** RFC 9110 §8.6: 1*DIGIT. */
const DIGITS = /^\d+$/;
/** RFC 9112 §7.1 chunk-size, bounded so a size never overflows (16 hex digits = 2^64). */
const CHUNK_SIZE = /^[0-9A-Fa-f]{1,15}$/;

type Step<T> = { done: true; value: T; next: number } | { done: false; problem?: string };

/** One CRLF-terminated line from `at`; a bare CR or LF before the CRLF is a problem. */
function line(buf: Buffer, at: number): Step<string> {
  for (let i = at; i < buf.length; i++) {
    const c = buf[i];
    if (c === 0x0a) return { done: false, problem: `bare LF at byte ${i}` };
    if (c === 0x0d) {
      if (i + 1 >= buf.length) return { done: false };
      if (buf[i + 1] !== 0x0a) return { done: false, problem: `bare CR at byte ${i}` };
      return { done: true, value: buf.subarray(at, i).toString('latin1'), next: i + 2 };
    }
  }
  return { done: false };
}

/** The request head from `at`: request-line and field lines up to the empty line. */
function head(buf: Buffer, at: number): Step<Pick<FramedRequest, 'method' | 'target' | 'version' | 'headers'>> {
  const first = line(buf, at);
  if (!first.done) return first;
  const parts = first.value.split(' ');
  const [method = '', target = '', version = ''] = parts;
  if (parts.length !== 3 || !TOKEN.test(method) || !TARGET.test(target) || !VERSION.test(version)) {
    return { done: false, problem: `invalid request-line ${JSON.stringify(first.value)}` };
  }
  const headers: Array<[string, string]> = [];
  let next = first.next;
  for (;;) {
    const field = line(buf, next);
    if (!field.done) return field;
    next = field.next;
    if (field.value === '') return { done: true, value: { method, target, version, headers }, next };
    if (field.value.startsWith(' ') || field.value.startsWith('\t')) return { done: false, problem: `obs-fold line ${JSON.stringify(field.value)}` };
    const colon = field.value.indexOf(':');
    const name = field.value.slice(0, Math.max(0, colon));
    const value = field.value.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (colon < 0 || !TOKEN.test(name)) return { done: false, problem: `invalid field line ${JSON.stringify(field.value)}` };
    if (!FIELD_VALUE.test(value)) return { done: false, problem: `invalid field value in ${JSON.stringify(field.value)}` };
    headers.push([name, value]);
  }
}

/** Values of a field (case-insensitive name), each line split at commas. */
export function fieldValues(headers: FramedRequest['headers'], name: string): string[] {
  const lower = name.toLowerCase();
  return headers.filter(([n]) => n.toLowerCase() === lower).flatMap(([, v]) => v.split(',').map((s) => s.trim()));
}

/** How the body is framed (RFC 9112 §6.3), or why it cannot be told without guessing. */
function bodyFraming(headers: FramedRequest['headers']): { kind: 'chunked' } | { kind: 'length'; bytes: number } | { problem: string } {
  const te = fieldValues(headers, 'transfer-encoding');
  const cl = fieldValues(headers, 'content-length');
  const hasTe = headers.some(([n]) => n.toLowerCase() === 'transfer-encoding');
  const hasCl = headers.some(([n]) => n.toLowerCase() === 'content-length');
  if (hasTe && hasCl) return { problem: 'both Transfer-Encoding and Content-Length (RFC 9112 §6.3 rule 3)' };
  if (hasTe) {
    if (te.length !== 1 || te[0] !== 'chunked') return { problem: `Transfer-Encoding ${JSON.stringify(te.join(', '))} is not exactly chunked (RFC 9112 §6.3 rule 4)` };
    return { kind: 'chunked' };
  }
  if (!hasCl) return { kind: 'length', bytes: 0 };
  if (cl.length !== 1) return { problem: `Content-Length given ${cl.length} times (${JSON.stringify(cl.join(', '))}; RFC 9112 §6.3 rule 5)` };
  const value = cl[0] ?? '';
  if (!DIGITS.test(value)) return { problem: `Content-Length ${JSON.stringify(value)} is not digits (RFC 9110 §8.6)` };
  return { kind: 'length', bytes: Number(value) };
}

/** A chunked body from `at` (RFC 9112 §7.1), without trailers' meaning but with their syntax. */
function chunkedBody(buf: Buffer, at: number): Step<Buffer> {
  const parts: Buffer[] = [];
  let next = at;
  for (;;) {
    const sizeLine = line(buf, next);
    if (!sizeLine.done) return sizeLine;
    const [size = '', ...ext] = sizeLine.value.split(';');
    if (!CHUNK_SIZE.test(size) || ext.some((e) => !/^[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+([ \t]*=[ \t]*("[^"]*"|[!#$%&'*+\-.^_`|~0-9A-Za-z]+))?[ \t]*$/.test(e))) {
      return { done: false, problem: `invalid chunk-size line ${JSON.stringify(sizeLine.value)}` };
    }
    const bytes = parseInt(size, 16);
    next = sizeLine.next;
    if (bytes === 0) {
      for (;;) {
        const trailer = line(buf, next);
        if (!trailer.done) return trailer;
        next = trailer.next;
        if (trailer.value === '') return { done: true, value: Buffer.concat(parts), next };
        if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:/.test(trailer.value)) return { done: false, problem: `invalid trailer line ${JSON.stringify(trailer.value)}` };
      }
    }
    if (next + bytes + 2 > buf.length) return { done: false };
    if (buf[next + bytes] !== 0x0d || buf[next + bytes + 1] !== 0x0a) return { done: false, problem: `chunk of ${bytes} bytes not followed by CRLF` };
    parts.push(buf.subarray(next, next + bytes));
    next += bytes + 2;
  }
}

/** Splits one connection's bytes into requests by RFC 9112 framing; stops at what it cannot frame. */
export function frameRequests(buf: Buffer): Framing {
  const requests: FramedRequest[] = [];
  let at = 0;
  while (at < buf.length) {
    const h = head(buf, at);
    if (!h.done) return { requests, leftover: buf.subarray(at), problem: h.problem };
    const framing = bodyFraming(h.value.headers);
    if ('problem' in framing) return { requests, leftover: buf.subarray(at), problem: framing.problem };
    let body: Step<Buffer>;
    if (framing.kind === 'chunked') body = chunkedBody(buf, h.next);
    else body = h.next + framing.bytes <= buf.length ? { done: true, value: buf.subarray(h.next, h.next + framing.bytes), next: h.next + framing.bytes } : { done: false };
    if (!body.done) return { requests, leftover: buf.subarray(at), problem: body.problem };
    requests.push({ ...h.value, body: body.value, raw: buf.subarray(at, body.next) });
    at = body.next;
  }
  return { requests, leftover: buf.subarray(at), problem: undefined };
}

/** Bytes as a short printable string: CR, LF, NUL and other non-printables escaped, long runs cut in the middle. */
export function escapeBytes(bytes: Buffer, maxChars = 240): string {
  let s = '';
  for (const c of bytes) {
    if (c === 0x0d) s += '\\r';
    else if (c === 0x0a) s += '\\n';
    else if (c === 0x09) s += '\\t';
    else if (c === 0x5c) s += '\\\\';
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  if (s.length <= maxChars) return s;
  const half = Math.floor((maxChars - 5) / 2);
  return `${s.slice(0, half)} ... ${s.slice(-half)}`;
}
