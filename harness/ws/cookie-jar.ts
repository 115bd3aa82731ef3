/**
 * The cookies of one simulated browser tab talking to one site. Domain and Path are ignored:
 * every client talks to a single LB endpoint, so every cookie it was given applies.
 */

interface StoredCookie {
  value: string;
  /** Epoch ms; undefined for a session cookie. */
  expiresAtMs?: number;
}

/** A name → value cookie store fed by Set-Cookie headers (RFC 6265 §5.2, minus domain/path matching). */
export class CookieJar {
  readonly #cookies = new Map<string, StoredCookie>();

  constructor(preset: Readonly<Record<string, string>> = {}) {
    for (const [name, value] of Object.entries(preset)) this.set(name, value);
  }

  set(name: string, value: string): void {
    this.#cookies.set(name, { value });
  }

  get(name: string, atMs = Date.now()): string | undefined {
    const c = this.#cookies.get(name);
    if (!c) return undefined;
    if (c.expiresAtMs !== undefined && c.expiresAtMs <= atMs) {
      this.#cookies.delete(name);
      return undefined;
    }
    return c.value;
  }

  delete(name: string): void {
    this.#cookies.delete(name);
  }

  /** Applies Set-Cookie header values; Max-Age <= 0 or a past Expires removes the cookie. */
  store(setCookie: string | readonly string[] | undefined, atMs = Date.now()): void {
    if (setCookie === undefined) return;
    for (const line of typeof setCookie === 'string' ? [setCookie] : setCookie) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
      let expiresAtMs: number | undefined;
      let maxAgeSeen = false;
      for (const attr of attrs) {
        const [key = '', ...rest] = attr.split('=');
        const attrValue = rest.join('=').trim();
        const k = key.trim().toLowerCase();
        // Max-Age wins over Expires (§5.3 step 3).
        if (k === 'max-age' && /^-?\d+$/.test(attrValue)) {
          maxAgeSeen = true;
          expiresAtMs = atMs + Number(attrValue) * 1000;
        } else if (k === 'expires' && !maxAgeSeen) {
          const t = Date.parse(attrValue);
          if (!Number.isNaN(t)) expiresAtMs = t;
        }
      }
      if (expiresAtMs !== undefined && expiresAtMs <= atMs) {
        this.#cookies.delete(name);
        continue;
      }
      this.#cookies.set(name, expiresAtMs === undefined ? { value } : { value, expiresAtMs });
    }
  }

  /** The Cookie request header, or undefined when the jar is empty. */
  header(atMs = Date.now()): string | undefined {
    const parts: string[] = [];
    for (const name of [...this.#cookies.keys()]) {
      const value = this.get(name, atMs);
      if (value !== undefined) parts.push(`${name}=${value}`);
    }
    return parts.length > 0 ? parts.join('; ') : undefined;
  }

  /** A snapshot of the live cookies. */
  toObject(atMs = Date.now()): Record<string, string> {
    const out: Record<string, string> = {};
    for (const name of [...this.#cookies.keys()]) {
      const value = this.get(name, atMs);
      if (value !== undefined) out[name] = value;
    }
    return out;
  }
}
