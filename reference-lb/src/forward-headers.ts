import type { HeaderPolicy } from './config-schema.ts';

/*
 * Header rewriting for both directions, on raw header arrays ([name, value, name, value...])
 * so order, case and duplicates survive. Hop-by-hop fields (RFC 9110 §7.6.1, plus every
 * Proxy-* field and any field named in Connection) never cross the proxy; the framing
 * (Content-Length / chunked) is re-decided for each hop: by undici towards the upstream,
 * by node towards the client.
 */

function isHopByHop(lower: string): boolean {
  switch (lower) {
    case 'connection':
    case 'keep-alive':
    case 'te':
    case 'trailer':
    case 'transfer-encoding':
    case 'upgrade':
      return true;
    default:
      return lower.startsWith('proxy-');
  }
}

/** Extra field names a Connection header lists (other than keep-alive/close), lower-cased. */
function connectionOptions(value: string, into: Set<string> | undefined): Set<string> | undefined {
  for (const token of value.split(',')) {
    const t = token.trim().toLowerCase();
    if (t === '' || t === 'close' || t === 'keep-alive' || t === 'host') continue;
    (into ??= new Set()).add(t);
  }
  return into;
}

function withoutNamed(raw: string[], names: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (!names.has(name.toLowerCase())) out.push(name, raw[i + 1] as string);
  }
  return out;
}

/** What the request head says about the body, learnt while copying headers. */
export interface RequestFraming {
  /** The request carries a body (Content-Length > 0, or Transfer-Encoding). */
  hasBody: boolean;
  /** Declared Content-Length, or -1 for chunked / none. */
  contentLength: number;
}

/** The request head for the upstream, plus the index of the Host value to fill per attempt. */
export interface UpstreamRequestHead extends RequestFraming {
  headers: string[];
  /** Index in `headers` of the Host value the caller sets to the chosen server's host:port, or -1 to keep the client's. */
  hostValueIndex: number;
}

/** Connection-level facts the forwarded headers need. */
export interface ForwardContext {
  scheme: 'http' | 'https';
  clientAddress: string;
  /** Host (and X-Forwarded-Host) to send when the client sent none: the listener's first server name or its bind address. */
  fallbackHost: string;
}

/**
 * Builds the upstream request head from the client's raw headers. Host goes first;
 * with `forwarded`, X-Forwarded-For gets the client address appended to any incoming
 * chain, and X-Forwarded-Proto/-Host and X-Real-IP are replaced. Returns undefined
 * when the request is malformed in a way a proxy must refuse (several Host headers).
 */
export function buildUpstreamRequestHead(raw: readonly string[], policy: HeaderPolicy, ctx: ForwardContext): UpstreamRequestHead | undefined {
  const headers: string[] = ['Host', ''];
  let host: string | undefined;
  let xff: string | undefined;
  let dropByConnection: Set<string> | undefined;
  let contentLength = -1;
  let chunked = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    if (lower === 'host') {
      if (host !== undefined) return undefined;
      host = value;
      continue;
    }
    if (isHopByHop(lower)) {
      if (lower === 'connection') dropByConnection = connectionOptions(value, dropByConnection);
      else if (lower === 'transfer-encoding') chunked = true;
      continue;
    }
    if (lower === 'content-length') {
      contentLength = Number(value);
    } else if (lower === 'expect') {
      // node already answered `100-continue` to the client; the upstream gets the body regardless.
      continue;
    } else if (policy.forwarded) {
      if (lower === 'x-forwarded-for') {
        xff = xff === undefined ? value : `${xff}, ${value}`;
        continue;
      }
      if (lower === 'x-forwarded-proto' || lower === 'x-forwarded-host' || lower === 'x-real-ip') continue;
    }
    headers.push(name, value);
  }
  // node's parser already refused Transfer-Encoding values it cannot de-chunk; without a
  // Content-Length, undici re-chunks the body for the upstream.
  if (chunked) contentLength = -1;
  if (policy.forwarded) {
    headers.push(
      'X-Forwarded-For',
      xff === undefined ? ctx.clientAddress : `${xff}, ${ctx.clientAddress}`,
      'X-Forwarded-Proto',
      ctx.scheme,
      'X-Forwarded-Host',
      host ?? ctx.fallbackHost,
      'X-Real-IP',
      ctx.clientAddress,
    );
  }
  headers[1] = host ?? ctx.fallbackHost;
  const out = dropByConnection ? withoutNamed(headers, dropByConnection) : headers;
  return { headers: out, hostValueIndex: policy.preserveHost ? -1 : 1, hasBody: chunked || contentLength > 0, contentLength };
}

/** The response head for the client, and whether the upstream sent a Date. */
export interface ClientResponseHead {
  headers: string[];
  hasDate: boolean;
}

/** The upstream response head for the client: hop-by-hop fields removed, everything else as received. */
export function buildClientResponseHeaders(raw: readonly (string | Buffer)[]): ClientResponseHead {
  const out: string[] = [];
  let dropByConnection: Set<string> | undefined;
  let hasDate = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1');
    const value = raw[i + 1]!.toString('latin1');
    const lower = name.toLowerCase();
    if (isHopByHop(lower)) {
      if (lower === 'connection') dropByConnection = connectionOptions(value, dropByConnection);
      continue;
    }
    if (lower === 'date') hasDate = true;
    out.push(name, value);
  }
  return { headers: dropByConnection ? withoutNamed(out, dropByConnection) : out, hasDate };
}
