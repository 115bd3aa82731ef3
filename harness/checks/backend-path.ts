/**
 * The path a lenient backend resolves a request target to, to judge prefix escapes by what
 * reached a backend (profile http-hardening): the worst reading common servers make, so a
 * path that stays under its prefix here stays under it everywhere.
 * - query and fragment dropped;
 * - every %XX decoded once, %2F and %2E included (a backend that decodes after routing);
 * - overlong UTF-8 for '/', '.' and '\' (C0 AF, E0 80 AF, C0 AE, E0 80 AE, C1 9C) read as those
 *   characters (old IIS, CVE-2000-0884);
 * - the path ends at a NUL (a C string);
 * - backslash is a slash (Windows servers);
 * - `;params` dropped from each segment (Tomcat, Jetty: `..;` is `..`);
 * - empty segments merged, dot segments resolved (RFC 3986 §5.2.4), `..` above the root stays at the root.
 */
export function backendPath(target: string): string {
  const raw = target.replace(/[?#].*$/s, '');
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const hex = raw[i] === '%' ? /^[0-9a-fA-F]{2}$/.exec(raw.slice(i + 1, i + 3)) : null;
    if (hex) {
      bytes.push(parseInt(hex[0], 16));
      i += 2;
    } else {
      bytes.push(raw.charCodeAt(i) & 0xff);
    }
  }
  const chars: string[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const [a, b, c] = [bytes[i], bytes[i + 1], bytes[i + 2]];
    const overlong2 = a === 0xc0 || a === 0xc1 ? OVERLONG.get(((a & 0x1f) << 6) | ((b ?? 0) & 0x3f)) : undefined;
    const overlong3 = a === 0xe0 && b === 0x80 ? OVERLONG.get((c ?? 0) & 0x3f) : undefined;
    if (overlong2 !== undefined && b !== undefined && (b & 0xc0) === 0x80) {
      chars.push(overlong2);
      i += 1;
    } else if (overlong3 !== undefined && c !== undefined && (c & 0xc0) === 0x80) {
      chars.push(overlong3);
      i += 2;
    } else if (a === 0) {
      break;
    } else {
      chars.push(String.fromCharCode(a as number));
    }
  }
  const segments = chars.join('').replace(/\\/g, '/').split('/');
  const out: string[] = [];
  segments.forEach((segment) => {
    const name = segment.split(';')[0] as string;
    if (name === '..') out.pop();
    else if (name !== '.' && name !== '') out.push(name);
  });
  const last = segments[segments.length - 1]?.split(';')[0];
  const trailing = out.length > 0 && (last === '' || last === '.' || last === '..');
  return `/${out.join('/')}${trailing ? '/' : ''}`;
}

/** Code points of the overlong encodings a lenient decoder maps back to '/', '.' and '\'. */
const OVERLONG: ReadonlyMap<number, string> = new Map([
  [0x2f, '/'],
  [0x2e, '.'],
  [0x5c, '\\'],
]);

/** The path is at or under the prefix ("/api/" holds "/api/x" and "/api/", not "/apix" nor "/admin"). */
export function underPrefix(path: string, prefix: string): boolean {
  const base = prefix.endsWith('/') ? prefix : `${prefix}/`;
  return path.startsWith(base) || path === base.slice(0, -1);
}
