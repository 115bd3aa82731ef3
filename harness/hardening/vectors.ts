/**
 * The catalogue of hostile HTTP/1.1 requests of profile http-hardening: exact bytes, the rule
 * each one breaks, and what counts as safe for it. From ../shared/research/http-hardening-vectors.md
 * (RFC 9112, RFC 9110 and the proxies' own test suites). Bytes are built from explicit strings
 * with every CR and LF written out, never from template literals that could hide them.
 */
import type { FramedRequest } from './http1-request-framing.ts';
import { fieldValues } from './http1-request-framing.ts';

const CRLF = '\r\n';

/** The checks of the catalogue. */
export const HARDENING_CHECKS = [
  'smuggling.cl-te',
  'smuggling.te-obfuscated',
  'smuggling.duplicate-cl',
  'smuggling.chunk-framing',
  'parsing.bare-lf-cr-nul',
  'parsing.header-names',
  'parsing.request-line',
  'parsing.absolute-form',
  'upgrade.h2c-stripped',
] as const;
export type HardeningCheckId = (typeof HARDENING_CHECKS)[number];

/**
 * What the LB may do with a vector: `reject` only (4xx or close, nothing reaches a backend), or
 * also `forward-one` (exactly one request reaches a backend, framed unambiguously, nothing left
 * over, and `forwarded` has nothing against it).
 */
export type SafeOutcome = 'reject' | 'reject-or-forward-one';

/** Where a vector's request goes and how it names itself. */
export interface VectorRequestParams {
  /** a unique id: the path carries it (`/api/hardening/<vector>/<id>`) and, where the vector leaves room, X-Lbdrill-Id. */
  id: string;
  /** the Host the client sends. */
  host: string;
  /** the path prefix of the pool under test ("/api/"). */
  prefix: string;
}

/** One hostile request. */
export interface Vector {
  id: string;
  check: HardeningCheckId;
  /** one line: what the bytes do. */
  what: string;
  /** the rule it breaks, with its section. */
  rfc: string;
  safe: SafeOutcome;
  /** the LB must close the client connection after answering a forwarded one (RFC 9112 §6.3 rule 3: "MUST close"). */
  closeAfterForward?: boolean;
  /** the bytes, in the pieces the client writes (each flushed before the next). */
  pieces(params: VectorRequestParams): Buffer[];
  /** what makes a forwarded request unsafe although it framed cleanly; undefined when it is fine. */
  forwarded?(request: FramedRequest, params: VectorRequestParams): string | undefined;
}

/** Bytes of a string of code points 0..255, one byte each (latin1): `\x85` stays one byte. */
function bytes(...parts: string[]): Buffer {
  return Buffer.from(parts.join(''), 'latin1');
}

/** The request path of a vector: under the pool's prefix, naming the vector and the id. */
export function vectorPath(vectorId: string, params: VectorRequestParams): string {
  return params.prefix + 'hardening/' + vectorId + '/' + params.id;
}

/** Request line + Host + X-Lbdrill-Id, each line ended by CRLF: the common start of most vectors. */
function start(method: string, vectorId: string, p: VectorRequestParams, version = 'HTTP/1.1'): string {
  return method + ' ' + vectorPath(vectorId, p) + ' ' + version + CRLF + 'Host: ' + p.host + CRLF + 'X-Lbdrill-Id: ' + p.id + CRLF;
}

/** A vector whose request is one buffer: `head(p)` then the given field lines and body. */
function oneShot(v: Omit<Vector, 'pieces'> & { build(p: VectorRequestParams): string }): Vector {
  const { build, ...rest } = v;
  return { ...rest, pieces: (p) => [bytes(build(p))] };
}

/** A forwarded request must not carry this header (case-insensitive). */
function without(name: string): (r: FramedRequest) => string | undefined {
  return (r) => (r.headers.some(([n]) => n.toLowerCase() === name.toLowerCase()) ? `forwarded with a ${name} header` : undefined);
}

const TE_RFC = 'RFC 9112 §6.1/§6.3 rule 4: a Transfer-Encoding other than a final chunked cannot frame a request: 400 and close';

/** Every vector, in the order they run. */
export const VECTORS: readonly Vector[] = [
  // smuggling.cl-te
  oneShot({
    id: 'CLTE', check: 'smuggling.cl-te', what: 'Content-Length: 4 with Transfer-Encoding: chunked; the chunked body is 13 bytes',
    rfc: 'RFC 9112 §6.3 rule 3: TE overrides CL, ought to be an error; an intermediary MUST remove CL and close after', safe: 'reject-or-forward-one', closeAfterForward: true,
    build: (p) => start('POST', 'CLTE', p) + 'Content-Length: 4' + CRLF + 'Transfer-Encoding: chunked' + CRLF + CRLF + '1' + CRLF + 'Z' + CRLF + '0' + CRLF + CRLF,
  }),
  oneShot({
    id: 'TECL', check: 'smuggling.cl-te', what: 'Transfer-Encoding: chunked then Content-Length: 6; an X after the last chunk',
    rfc: 'RFC 9112 §6.3 rule 3: TE overrides CL; the X after the last chunk is no request', safe: 'reject-or-forward-one', closeAfterForward: true,
    build: (p) => start('POST', 'TECL', p) + 'Transfer-Encoding: chunked' + CRLF + 'Content-Length: 6' + CRLF + CRLF + '0' + CRLF + CRLF + 'X',
  }),
  oneShot({
    id: 'TE-1.0', check: 'smuggling.cl-te', what: 'an HTTP/1.0 request with Transfer-Encoding: chunked',
    rfc: 'RFC 9112 §6.1: chunked in HTTP/1.0 is faulty framing; the connection MUST close after', safe: 'reject-or-forward-one', closeAfterForward: true,
    build: (p) => start('POST', 'TE-1.0', p, 'HTTP/1.0') + 'Transfer-Encoding: chunked' + CRLF + CRLF + '0' + CRLF + CRLF,
  }),
  // smuggling.te-obfuscated
  oneShot({
    id: 'TE-x', check: 'smuggling.te-obfuscated', what: 'Transfer-Encoding: xchunked', rfc: TE_RFC, safe: 'reject',
    build: (p) => start('POST', 'TE-x', p) + 'Transfer-Encoding: xchunked' + CRLF + CRLF + '0' + CRLF + CRLF,
  }),
  oneShot({
    id: 'TE-sp', check: 'smuggling.te-obfuscated', what: 'a space before the colon: "Transfer-Encoding : chunked"',
    rfc: 'RFC 9112 §5.1: whitespace between field name and colon MUST be rejected with 400', safe: 'reject',
    build: (p) => start('POST', 'TE-sp', p) + 'Transfer-Encoding : chunked' + CRLF + CRLF + '0' + CRLF + CRLF,
  }),
  oneShot({
    id: 'TE-vt', check: 'smuggling.te-obfuscated', what: 'a vertical tab before the value: "Transfer-Encoding:\\x0bchunked"',
    rfc: 'RFC 9110 §5.5: VT is no field-value character (and no OWS)', safe: 'reject',
    build: (p) => start('POST', 'TE-vt', p) + 'Transfer-Encoding:\x0bchunked' + CRLF + CRLF + '0' + CRLF + CRLF,
  }),
  oneShot({
    id: 'TE-dup', check: 'smuggling.te-obfuscated', what: 'two Transfer-Encoding: chunked lines',
    rfc: 'RFC 9112 §6.1: chunked MUST NOT be applied more than once', safe: 'reject',
    build: (p) => start('POST', 'TE-dup', p) + 'Transfer-Encoding: chunked' + CRLF + 'Transfer-Encoding: chunked' + CRLF + CRLF + '0' + CRLF + CRLF,
  }),
  oneShot({
    id: 'TE-list-identity', check: 'smuggling.te-obfuscated', what: 'Transfer-Encoding: chunked, identity (chunked not last)', rfc: TE_RFC, safe: 'reject',
    build: (p) => start('POST', 'TE-list-identity', p) + 'Transfer-Encoding: chunked, identity' + CRLF + CRLF + '0' + CRLF + CRLF,
  }),
  oneShot({
    id: 'TE-list-gzip', check: 'smuggling.te-obfuscated', what: 'Transfer-Encoding: gzip, chunked (a coding the LB would have to pass on)',
    rfc: 'RFC 9112 §6.1: a coding the recipient does not implement SHOULD get 501; forwarding it re-framed is the only alternative', safe: 'reject-or-forward-one',
    build: (p) => start('POST', 'TE-list-gzip', p) + 'Transfer-Encoding: gzip, chunked' + CRLF + CRLF + '0' + CRLF + CRLF,
  }),
  oneShot({
    id: 'TE-comma', check: 'smuggling.te-obfuscated', what: 'Transfer-Encoding: ,chunked (an empty list element)',
    rfc: 'RFC 9110 §5.6.1: equals chunked; reject or re-frame, forwarding it unchanged is the bug', safe: 'reject-or-forward-one',
    build: (p) => start('POST', 'TE-comma', p) + 'Transfer-Encoding: ,chunked' + CRLF + CRLF + '0' + CRLF + CRLF,
  }),
  oneShot({
    id: 'TE-fold-value', check: 'smuggling.te-obfuscated', what: 'Transfer-Encoding: with its value on an obs-fold line',
    rfc: 'RFC 9112 §5.2: obs-fold MUST be rejected with 400 or replaced by SP', safe: 'reject-or-forward-one',
    build: (p) => start('POST', 'TE-fold-value', p) + 'Transfer-Encoding:' + CRLF + ' chunked' + CRLF + CRLF + '0' + CRLF + CRLF,
  }),
  oneShot({
    id: 'TE-fold-line', check: 'smuggling.te-obfuscated', what: 'Transfer-Encoding: chunked folded into the value of the field before it',
    rfc: 'RFC 9112 §5.2: an obs-fold line continues the previous value; it is never a field of its own', safe: 'reject-or-forward-one',
    build: (p) => start('POST', 'TE-fold-line', p) + 'Foo: bar' + CRLF + ' Transfer-Encoding: chunked' + CRLF + 'Content-Length: 5' + CRLF + CRLF + '0' + CRLF + CRLF,
    forwarded: without('transfer-encoding'),
  }),
  // smuggling.duplicate-cl
  oneShot({
    id: 'CL-diff', check: 'smuggling.duplicate-cl', what: 'Content-Length: 0 and Content-Length: 31 (a GET in the body)',
    rfc: 'RFC 9112 §6.3 rule 5: differing lengths are an unrecoverable error: 400 and close', safe: 'reject',
    build: (p) => {
      const smuggled = 'GET /evil HTTP/1.1' + CRLF + 'Host: a' + CRLF + CRLF;
      return start('POST', 'CL-diff', p) + 'Content-Length: 0' + CRLF + 'Content-Length: ' + String(smuggled.length) + CRLF + CRLF + smuggled;
    },
  }),
  oneShot({
    id: 'CL-same', check: 'smuggling.duplicate-cl', what: 'Content-Length: 5 twice',
    rfc: 'RFC 9110 §8.6: identical values MAY be collapsed to one, else reject', safe: 'reject-or-forward-one',
    build: (p) => start('POST', 'CL-same', p) + 'Content-Length: 5' + CRLF + 'Content-Length: 5' + CRLF + CRLF + 'hello',
  }),
  oneShot({
    id: 'CL-list', check: 'smuggling.duplicate-cl', what: 'Content-Length: 5, 5',
    rfc: 'RFC 9110 §8.6: identical values MAY be collapsed to one, else reject', safe: 'reject-or-forward-one',
    build: (p) => start('POST', 'CL-list', p) + 'Content-Length: 5, 5' + CRLF + CRLF + 'hello',
  }),
  oneShot({
    id: 'CL-empty', check: 'smuggling.duplicate-cl', what: 'an empty Content-Length then Content-Length: 5 (CVE-2023-40225)',
    rfc: 'RFC 9112 §6.3 rule 5: an invalid Content-Length is an unrecoverable error', safe: 'reject',
    build: (p) => start('POST', 'CL-empty', p) + 'Content-Length: ' + CRLF + 'Content-Length: 5' + CRLF + CRLF + 'hello',
  }),
  ...(['+5', '-5', '5.0', '0x5'] as const).map((value) =>
    oneShot({
      id: 'CL-junk' + value, check: 'smuggling.duplicate-cl', what: 'Content-Length: ' + value,
      rfc: 'RFC 9110 §8.6: Content-Length is 1*DIGIT; anything else is an unrecoverable error (RFC 9112 §6.3 rule 5)', safe: 'reject',
      build: (p) => start('POST', 'CL-junk' + value, p) + 'Content-Length: ' + value + CRLF + CRLF + 'hello',
    }),
  ),
  // smuggling.chunk-framing
  ...([
    ['CH-size-word', '1these-bytes'],
    ['CH-size-neg', '-0x0'],
    ['CH-size-space', '  0'],
    ['CH-size-overflow', 'FFFFFFFFFFFFFFFFF'],
  ] as const).map(([id, size]) =>
    oneShot({
      id, check: 'smuggling.chunk-framing', what: 'chunk size ' + JSON.stringify(size),
      rfc: 'RFC 9112 §7.1: chunk-size is 1*HEXDIG, guarded against overflow', safe: 'reject',
      build: (p) => start('POST', id, p) + 'Transfer-Encoding: chunked' + CRLF + CRLF + size + CRLF + 'x' + CRLF + '0' + CRLF + CRLF,
    }),
  ),
  oneShot({
    id: 'CH-LF', check: 'smuggling.chunk-framing', what: 'a chunk\'s data ended by a bare LF',
    rfc: 'RFC 9112 §7.1: chunk data ends with CRLF (lone LF is allowed only in the head, §2.2)', safe: 'reject',
    build: (p) => start('POST', 'CH-LF', p) + 'Transfer-Encoding: chunked' + CRLF + CRLF + 'a' + CRLF + '0123456789' + '\n' + '0' + CRLF + CRLF,
  }),
  oneShot({
    id: 'CH-extCR', check: 'smuggling.chunk-framing', what: 'a bare CR inside a chunk extension',
    rfc: 'RFC 9112 §2.2: a bare CR outside content is invalid', safe: 'reject',
    build: (p) => start('POST', 'CH-extCR', p) + 'Transfer-Encoding: chunked' + CRLF + CRLF + '2' + '\r\r' + ';a' + CRLF + '02' + CRLF + '41' + CRLF + '0' + CRLF + CRLF,
  }),
  oneShot({
    id: 'CH-run', check: 'smuggling.chunk-framing', what: 'chunk size 4 with 8 bytes of data',
    rfc: 'RFC 9112 §7.1: the chunk data is exactly chunk-size bytes, then CRLF', safe: 'reject',
    build: (p) => start('POST', 'CH-run', p) + 'Transfer-Encoding: chunked' + CRLF + CRLF + '4' + CRLF + 'SEE-THIS' + CRLF + '0' + CRLF + CRLF,
  }),
  // parsing.bare-lf-cr-nul
  oneShot({
    id: 'LF-only', check: 'parsing.bare-lf-cr-nul', what: 'a request whose lines all end in a bare LF',
    rfc: 'RFC 9112 §2.2: a recipient MAY take a lone LF as line end; what it forwards ends lines in CRLF', safe: 'reject-or-forward-one',
    build: (p) => 'GET ' + vectorPath('LF-only', p) + ' HTTP/1.1' + '\n' + 'Host: ' + p.host + '\n' + 'X-Lbdrill-Id: ' + p.id + '\n' + '\n',
  }),
  oneShot({
    id: 'CR-val', check: 'parsing.bare-lf-cr-nul', what: 'a bare CR inside a field value',
    rfc: 'RFC 9112 §2.2: a bare CR MUST be rejected or replaced by SP before forwarding', safe: 'reject-or-forward-one',
    build: (p) => start('GET', 'CR-val', p) + 'X: this' + '\r' + 'value' + CRLF + CRLF,
  }),
  oneShot({
    id: 'NUL-val', check: 'parsing.bare-lf-cr-nul', what: 'a NUL inside a field value',
    rfc: 'RFC 9110 §5.5: NUL MUST be rejected or replaced by SP', safe: 'reject-or-forward-one',
    build: (p) => start('GET', 'NUL-val', p) + 'X: a' + '\x00' + '.b' + CRLF + CRLF,
  }),
  // parsing.header-names
  oneShot({
    id: 'name-empty', check: 'parsing.header-names', what: 'a field line with an empty name before Content-Length (CVE-2023-25725)',
    rfc: 'RFC 9110 §5.1: a field name is a token (1 or more tchar)', safe: 'reject',
    build: (p) => start('POST', 'name-empty', p) + ': x' + CRLF + 'Content-Length: 5' + CRLF + CRLF + 'hello',
  }),
  oneShot({
    id: 'name-lf', check: 'parsing.header-names', what: 'a bare LF inside a field name ("Te\\nst: t")',
    rfc: 'RFC 9112 §2.2/§5: a field line without colon; SHOULD be rejected with 400', safe: 'reject-or-forward-one',
    build: (p) => start('GET', 'name-lf', p) + 'Te' + '\n' + 'st: t' + CRLF + CRLF,
  }),
  oneShot({
    id: 'name-obs-text', check: 'parsing.header-names', what: 'a byte 0x85 in a field name',
    rfc: 'RFC 9110 §5.1: a field name is a token; drop or reject, never forward', safe: 'reject-or-forward-one',
    build: (p) => start('GET', 'name-obs-text', p) + 'Header\x85: v' + CRLF + CRLF,
  }),
  oneShot({
    id: 'name-underscore', check: 'parsing.header-names', what: 'Transfer_Encoding: chunked beside a Content-Length that frames the same 5 bytes',
    rfc: 'RFC 9110 §5.1: a distinct name; a backend that reads _ as - (CGI, WSGI) would see Transfer-Encoding: drop or reject', safe: 'reject-or-forward-one',
    build: (p) => start('POST', 'name-underscore', p) + 'Transfer_Encoding: chunked' + CRLF + 'Content-Length: 5' + CRLF + CRLF + '0' + CRLF + CRLF,
    forwarded: without('transfer_encoding'),
  }),
  // parsing.request-line
  oneShot({
    id: 'reqline-space', check: 'parsing.request-line', what: 'a space inside the request-target',
    rfc: 'RFC 9112 §3: an invalid request-line SHOULD get 400', safe: 'reject-or-forward-one',
    build: (p) => 'GET ' + vectorPath('reqline-space', p) + ' b HTTP/1.1' + CRLF + 'Host: ' + p.host + CRLF + 'X-Lbdrill-Id: ' + p.id + CRLF + CRLF,
  }),
  oneShot({
    id: 'reqline-ctl', check: 'parsing.request-line', what: 'a control byte 0x01 inside the request-target',
    rfc: 'RFC 9112 §3.2: a request-target has no CTL; SHOULD get 400', safe: 'reject-or-forward-one',
    build: (p) => 'GET ' + vectorPath('reqline-ctl', p) + '\x01 HTTP/1.1' + CRLF + 'Host: ' + p.host + CRLF + 'X-Lbdrill-Id: ' + p.id + CRLF + CRLF,
  }),
  oneShot({
    id: 'reqline-fragment', check: 'parsing.request-line', what: 'a fragment (#x) in the request-target',
    rfc: 'RFC 9110 §4.1 / RFC 9112 §3.2: no fragment in a request-target; reject, or strip it before forwarding', safe: 'reject-or-forward-one',
    build: (p) => 'GET ' + vectorPath('reqline-fragment', p) + '#x HTTP/1.1' + CRLF + 'Host: ' + p.host + CRLF + 'X-Lbdrill-Id: ' + p.id + CRLF + CRLF,
  }),
  oneShot({
    id: 'method-space', check: 'parsing.request-line', what: 'a space inside the method ("G ET")',
    rfc: 'RFC 9112 §3: four words are no request-line; SHOULD get 400', safe: 'reject-or-forward-one',
    build: (p) => start('G ET', 'method-space', p),
  }),
  oneShot({
    id: 'method-tab', check: 'parsing.request-line', what: 'a tab between method and target',
    rfc: 'RFC 9112 §3: a recipient MAY split on whitespace; what it forwards uses SP', safe: 'reject-or-forward-one',
    build: (p) => 'GET' + '\t' + vectorPath('method-tab', p) + ' HTTP/1.1' + CRLF + 'Host: ' + p.host + CRLF + 'X-Lbdrill-Id: ' + p.id + CRLF + CRLF,
  }),
  oneShot({
    id: 'http09', check: 'parsing.request-line', what: 'an HTTP/0.9 request line, then field lines that must never become a request',
    rfc: 'outside RFC 9112: answer locally or reject; later bytes never become headers of a forwarded request', safe: 'reject-or-forward-one',
    build: (p) => 'GET ' + vectorPath('http09', p) + CRLF + 'Host: ' + p.host + CRLF + 'X-Lbdrill-Id: ' + p.id + CRLF + CRLF,
  }),
  // parsing.absolute-form
  oneShot({
    id: 'absform', check: 'parsing.absolute-form', what: 'GET http://internal/<path> with Host: <public>',
    rfc: 'RFC 9112 §3.2.2: the authority of an absolute-form target replaces Host; the backend must not see the other Host', safe: 'reject-or-forward-one',
    build: (p) => 'GET http://internal.invalid' + vectorPath('absform', p) + ' HTTP/1.1' + CRLF + 'Host: ' + p.host + CRLF + 'X-Lbdrill-Id: ' + p.id + CRLF + CRLF,
    forwarded: (r, p) => {
      const host = fieldValues(r.headers, 'host');
      return host.length === 1 && host[0] === p.host ? `forwarded with Host: ${p.host} while the request-target names internal.invalid` : undefined;
    },
  }),
  // upgrade.h2c-stripped
  oneShot({
    id: 'h2c', check: 'upgrade.h2c-stripped', what: 'Upgrade: h2c with HTTP2-Settings (RFC 7540 cleartext upgrade)',
    rfc: 'RFC 9113 §3.1: h2c upgrade is deprecated; an LB must not pass it on (h2c smuggling past its routing)', safe: 'reject-or-forward-one',
    build: (p) => start('GET', 'h2c', p) + 'Upgrade: h2c' + CRLF + 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA' + CRLF + 'Connection: Upgrade, HTTP2-Settings' + CRLF + CRLF,
    forwarded: (r) => {
      const connection = fieldValues(r.headers, 'connection').map((v) => v.toLowerCase());
      if (fieldValues(r.headers, 'upgrade').length > 0) return 'forwarded with an Upgrade header';
      if (connection.includes('upgrade') || connection.includes('http2-settings')) return 'forwarded with Connection: ' + connection.join(', ');
      return undefined;
    },
  }),
];

/** Marks a sentinel's path: `/api/hardening/sentinel/<id>`. */
export const SENTINEL_SEGMENT = 'hardening/sentinel/';

/** The harmless request sent after each vector, on the same client connection and on fresh ones. */
export function sentinelBytes(params: VectorRequestParams): Buffer {
  return bytes('GET ' + params.prefix + SENTINEL_SEGMENT + params.id + ' HTTP/1.1' + CRLF + 'Host: ' + params.host + CRLF + 'X-Lbdrill-Id: ' + params.id + CRLF + CRLF);
}

/** The vectors of one check, in catalogue order. */
export function vectorsOf(check: HardeningCheckId): Vector[] {
  return VECTORS.filter((v) => v.check === check);
}
