import type { AuthConfig } from './config-schema.ts';
import { PasswordHash } from './password-hash.ts';

/** Verified credentials remembered, so a client's every request does not pay for 1000 MD5 rounds again. */
const CACHE_ENTRIES = 1024;

/** A user whose credentials checked out, and the groups they are in (config order). */
export interface AuthenticatedUser {
  name: string;
  groups: readonly string[];
}

/** The users of an `auth` block after its users_file has been merged in (config-files.ts does that). */
export interface AuthUsers {
  users: Readonly<Record<string, string>>;
  groups: Readonly<Record<string, readonly string[]>>;
}

/**
 * HTTP Basic authentication (RFC 7617) against htpasswd-style hashes, per route (nginx
 * `auth_basic` + `auth_basic_user_file`, HAProxy `http-request auth` with a userlist).
 * `authenticate` reads the first Authorization field of the raw headers; a missing,
 * malformed or wrong one gives undefined and the caller answers 401 with `challenge`.
 */
export class BasicAuth {
  readonly realm: string;
  /** The WWW-Authenticate value of a 401. */
  readonly challenge: string;
  private readonly users: ReadonlyMap<string, { hash: PasswordHash; user: AuthenticatedUser }>;
  /** Authorization values already verified, oldest first. */
  private readonly verified = new Map<string, AuthenticatedUser>();

  constructor(config: Pick<AuthConfig, 'realm'>, users: AuthUsers) {
    this.realm = config.realm;
    this.challenge = `Basic realm="${config.realm}"`;
    const groupsOf = new Map<string, string[]>();
    for (const [group, members] of Object.entries(users.groups)) {
      for (const m of members) {
        const list = groupsOf.get(m) ?? [];
        if (!list.includes(group)) list.push(group);
        groupsOf.set(m, list);
      }
    }
    this.users = new Map(
      Object.entries(users.users).map(([name, hash]) => [name, { hash: PasswordHash.parse(hash), user: { name, groups: groupsOf.get(name) ?? [] } }]),
    );
  }

  /** The user of a request's `Authorization: Basic` credentials, or undefined (401). */
  authenticate(rawHeaders: readonly string[]): AuthenticatedUser | undefined {
    let value: string | undefined;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i] as string;
      if (name.length === 13 && name.toLowerCase() === 'authorization') {
        value = rawHeaders[i + 1] as string;
        break;
      }
    }
    if (value === undefined) return undefined;
    const cached = this.verified.get(value);
    if (cached !== undefined) return cached;
    const user = this.check(value);
    if (user !== undefined) {
      if (this.verified.size >= CACHE_ENTRIES) this.verified.delete(this.verified.keys().next().value as string);
      this.verified.set(value, user);
    }
    return user;
  }

  private check(value: string): AuthenticatedUser | undefined {
    // `Basic` is case-insensitive (RFC 9110 §11.1); the token68 follows one or more spaces.
    const m = /^basic +([A-Za-z0-9+/\-_]+=*) *$/i.exec(value);
    if (!m) return undefined;
    // RFC 7617 §2.1: UTF-8 is what browsers send for charset="UTF-8" and what curl sends.
    const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const entry = this.users.get(decoded.slice(0, colon));
    if (entry === undefined || !entry.hash.verify(decoded.slice(colon + 1))) return undefined;
    return entry.user;
  }
}
