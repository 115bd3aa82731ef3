import type { IncomingMessage } from 'node:http';
import type { LimitsConfig } from './config-schema.ts';

/*
 * The one place a request head is judged before routing. node:http (llhttp, strict mode)
 * already refuses bare CR/LF in the head, NUL and other CTLs, obs-fold, spaces before
 * the colon, bad or conflicting Content-Length, Content-Length with Transfer-Encoding,
 * bad chunk framing and unknown methods (400 and close, before any 'request' event).
 * What it lets through and an intermediary must not relay is refused here, so no byte
 * of such a request reaches an upstream.
 */

/** RFC 9110 §5.6.2 tchar without `_`: a backend mapping names to CGI variables reads `X_Foo` as `X-Foo` (nginx `underscores_in_headers off`). */
const FIELD_NAME = /^[!#$%&'*+\-.^`|~0-9A-Za-z]+$/;
/** RFC 9112 §3.2 request-target: visible ASCII; `#` starts a fragment, which a client never sends (RFC 9110 §7.1). */
const TARGET = /^[\x21\x22\x24-\x7e]+$/;
/** RFC 9112 §3.2.2 absolute-form: scheme "://" authority, then path and query. */
const ABSOLUTE_FORM = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)/;
const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: '80', https: '443' };

/** A refused request: the status to answer (the connection is closed after it) and why. */
export interface GateRefusal {
  status: 400 | 414 | 431;
  reason: string;
}

/** Lower-cased authority without its scheme's default port, for comparing absolute-form with Host. */
function canonicalAuthority(authority: string, scheme: string): string {
  const lower = authority.toLowerCase();
  const port = DEFAULT_PORTS[scheme.toLowerCase()];
  return port !== undefined && lower.endsWith(`:${port}`) ? lower.slice(0, -(port.length + 1)) : lower;
}

function refuse(status: GateRefusal['status'], reason: string): GateRefusal {
  return { status, reason };
}

/**
 * Judges a parsed request head; undefined when it may be routed. `upgrade`: node hands
 * the connection over raw (`Connection: upgrade`), so an `Upgrade: h2c` would become a
 * tunnel (RFC 9113 §3.1 deprecates h2c); without it Upgrade is a hop-by-hop field the
 * forwarded request loses.
 */
export function gateRequest(req: IncomingMessage, limits: LimitsConfig, upgrade: boolean): GateRefusal | undefined {
  const target = req.url ?? '';
  const method = req.method ?? '';
  // method SP request-target SP HTTP-version (RFC 9112 §3), without its CRLF.
  if (method.length + target.length + 10 > limits.request_line_bytes) return refuse(414, 'request line too long');
  const raw = req.rawHeaders;
  // node keeps at most header_count + 1 fields (maxHeadersCount), so more than header_count is seen, never cut silently.
  if (raw.length / 2 > limits.header_count) return refuse(431, 'too many header fields');
  if (req.httpVersion !== '1.1' && req.httpVersion !== '1.0') return refuse(400, `HTTP/${req.httpVersion}`);
  if (!TARGET.test(target)) return refuse(400, 'request target with a byte outside visible ASCII or a fragment');
  let host: string | undefined;
  let transferEncoding: string | undefined;
  let transferEncodings = 0;
  let contentLength = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (!FIELD_NAME.test(name)) return refuse(400, `header field name ${JSON.stringify(name)}`);
    const lower = name.toLowerCase();
    const value = raw[i + 1] as string;
    if (lower === 'transfer-encoding') {
      transferEncodings++;
      transferEncoding = value;
    } else if (lower === 'content-length') contentLength = true;
    else if (lower === 'host') host = value;
    else if (upgrade && lower === 'upgrade' && value.split(',').some((p) => p.trim().toLowerCase() === 'h2c')) return refuse(400, 'Upgrade: h2c');
  }
  if (transferEncodings > 0) {
    // RFC 9112 §6.1: chunked once and last; the only coding relayed here is chunked alone (undici re-frames the body).
    if (transferEncodings > 1 || transferEncoding?.trim().toLowerCase() !== 'chunked') return refuse(400, 'Transfer-Encoding other than chunked');
    if (contentLength) return refuse(400, 'Transfer-Encoding with Content-Length');
    // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
    if (req.httpVersion === '1.0') return refuse(400, 'Transfer-Encoding in HTTP/1.0');
  }
  if (target.charCodeAt(0) !== 47 /* "/" */) {
    const m = ABSOLUTE_FORM.exec(target);
    if (!m) return refuse(400, 'request target neither origin-form nor absolute-form');
    // RFC 9112 §3.2.2 lets a server route on the authority and replace Host; routing on one name while the backend reads another is the bypass, so they must agree.
    const scheme = m[1] as string;
    if (host === undefined || canonicalAuthority(m[2] as string, scheme) !== canonicalAuthority(host, scheme)) return refuse(400, 'absolute-form authority differs from Host');
  }
  return undefined;
}
