/*
 * Reading and editing request `Cookie` headers (RFC 6265 §4.2: `name=value` pairs
 * separated by `; `). Names are case-sensitive. A client may send several Cookie headers
 * (HTTP/2 gateways do); each is looked at in turn. Values are returned raw (quotes kept).
 */

function isSpace(c: number): boolean {
  return c === 32 || c === 9;
}

/** The value of the first `name=` pair in one Cookie header value, or undefined. */
export function cookieIn(header: string, name: string): string | undefined {
  const n = header.length;
  let i = 0;
  while (i < n) {
    while (i < n && isSpace(header.charCodeAt(i))) i++;
    let end = header.indexOf(';', i);
    if (end < 0) end = n;
    if (header.charCodeAt(i + name.length) === 61 /* = */ && i + name.length < end && header.startsWith(name, i)) {
      let valueEnd = end;
      while (valueEnd > i + name.length + 1 && isSpace(header.charCodeAt(valueEnd - 1))) valueEnd--;
      return header.slice(i + name.length + 1, valueEnd);
    }
    i = end + 1;
  }
  return undefined;
}

/** The value of cookie `name` in a request's raw headers (the first occurrence), or undefined. */
export function findCookie(rawHeaders: readonly string[], name: string): string | undefined {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const field = rawHeaders[i] as string;
    if (field.length !== 6 || field.toLowerCase() !== 'cookie') continue;
    const value = cookieIn(rawHeaders[i + 1] as string, name);
    if (value !== undefined) return value;
  }
  return undefined;
}

/** The name of one `name=value` pair (leading whitespace skipped). */
function pairName(pair: string): string {
  let start = 0;
  while (start < pair.length && isSpace(pair.charCodeAt(start))) start++;
  const eq = pair.indexOf('=', start);
  return eq < 0 ? pair.slice(start).trimEnd() : pair.slice(start, eq);
}

/**
 * One Cookie header value without any `name=` pair; the other pairs keep their bytes and
 * order (`a=1; S=x; b=2` -> `a=1; b=2`). Returns '' when nothing is left.
 */
export function removeCookie(header: string, name: string): string {
  if (!header.includes(name)) return header;
  const pairs = header.split(';');
  const kept = pairs.filter((p) => pairName(p) !== name);
  if (kept.length === pairs.length) return header;
  // The separator's space before a pair that is now first goes too.
  return kept.join(';').replace(/^[ \t]+/, '');
}

/**
 * Removes cookie `name` from every Cookie field of a raw header list ([name, value, ...]),
 * in place; a field left empty is dropped.
 */
export function stripCookie(headers: string[], name: string): void {
  for (let i = 0; i < headers.length; ) {
    const field = headers[i] as string;
    if (field.length === 6 && field.toLowerCase() === 'cookie') {
      const value = removeCookie(headers[i + 1] as string, name);
      if (value === '') {
        headers.splice(i, 2);
        continue;
      }
      headers[i + 1] = value;
    }
    i += 2;
  }
}
