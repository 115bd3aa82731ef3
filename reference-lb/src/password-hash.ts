import { createHash, timingSafeEqual } from 'node:crypto';

/*
 * Password hashes as htpasswd files and HAProxy userlists store them, checked with
 * node:crypto alone: Apache's `$apr1$` (htpasswd -m, the default), `{SHA}` (htpasswd -s),
 * the crypt(3) family `$1$` (MD5), `$5$` (SHA-256) and `$6$` (SHA-512) that HAProxy's
 * `user ... password` takes, and `plain:` for a clear-text password in the config.
 * bcrypt (`$2y$`, htpasswd -B) needs Blowfish, which node:crypto does not have.
 */

/** crypt(3)'s base-64 alphabet (not RFC 4648's). */
const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Appends `n` characters for the 24-bit value `b2 b1 b0`, least significant six bits first. */
function to64(b2: number, b1: number, b0: number, n: number): string {
  let w = (b2 << 16) | (b1 << 8) | b0;
  let out = '';
  for (let i = 0; i < n; i++) {
    out += ITOA64[w & 0x3f];
    w >>>= 6;
  }
  return out;
}

function md5(...parts: Buffer[]): Buffer {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return h.digest();
}

/**
 * Poul-Henning Kamp's MD5 crypt, as Apache's `$apr1$` and crypt(3)'s `$1$` (the two differ
 * only in the magic string): 1000 rounds of MD5 over password, salt and the previous digest.
 */
function md5Crypt(password: Buffer, salt: string, magic: '$apr1$' | '$1$'): string {
  const s = Buffer.from(salt, 'latin1');
  const alt = md5(password, s, password);
  const ctx = createHash('md5');
  ctx.update(password);
  ctx.update(magic);
  ctx.update(s);
  for (let left = password.length; left > 0; left -= 16) ctx.update(alt.subarray(0, Math.min(16, left)));
  // One NUL or the password's first byte per bit of its length: a quirk of the original that every implementation keeps.
  const zero = Buffer.alloc(1);
  const first = password.subarray(0, 1);
  for (let i = password.length; i > 0; i >>>= 1) ctx.update(i & 1 ? zero : first);
  let final = ctx.digest();
  for (let i = 0; i < 1000; i++) {
    const round = createHash('md5');
    round.update(i & 1 ? password : final);
    if (i % 3) round.update(s);
    if (i % 7) round.update(password);
    round.update(i & 1 ? final : password);
    final = round.digest();
  }
  const f = (i: number): number => final[i] as number;
  const encoded =
    to64(f(0), f(6), f(12), 4) + to64(f(1), f(7), f(13), 4) + to64(f(2), f(8), f(14), 4) + to64(f(3), f(9), f(15), 4) + to64(f(4), f(10), f(5), 4) + to64(0, 0, f(11), 2);
  return `${magic}${salt}$${encoded}`;
}

/** `$apr1$<salt>$<hash>` for `password` (htpasswd -m; `openssl passwd -apr1 -salt <salt>`); the salt is cut at 8 characters. */
export function apr1Crypt(password: string, salt: string): string {
  return md5Crypt(Buffer.from(password, 'utf8'), salt.slice(0, 8), '$apr1$');
}

/** `n` bytes of `block` repeated (the P and S sequences of SHA-crypt). */
function repeatTo(block: Buffer, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i += block.length) block.copy(out, i, 0, Math.min(block.length, n - i));
  return out;
}

/** Default and bounds of SHA-crypt's `rounds=` (Drepper's specification). */
const SHA_CRYPT_ROUNDS_DEFAULT = 5000;
const SHA_CRYPT_ROUNDS_MIN = 1000;
const SHA_CRYPT_ROUNDS_MAX = 999_999_999;

/** Ulrich Drepper's SHA-crypt (`$5$` SHA-256, `$6$` SHA-512), https://www.akkadia.org/drepper/SHA-crypt.txt. */
function shaCrypt(password: Buffer, salt: string, rounds: number | undefined, variant: 5 | 6): string {
  const algo = variant === 5 ? 'sha256' : 'sha512';
  const hlen = variant === 5 ? 32 : 64;
  const H = (...parts: Buffer[]): Buffer => {
    const h = createHash(algo);
    for (const p of parts) h.update(p);
    return h.digest();
  };
  const s = Buffer.from(salt, 'latin1');
  const n = rounds === undefined ? SHA_CRYPT_ROUNDS_DEFAULT : Math.min(SHA_CRYPT_ROUNDS_MAX, Math.max(SHA_CRYPT_ROUNDS_MIN, rounds));
  const b = H(password, s, password);
  const a = createHash(algo);
  a.update(password);
  a.update(s);
  a.update(repeatTo(b, password.length));
  for (let i = password.length; i > 0; i >>>= 1) a.update(i & 1 ? b : password);
  let c = a.digest();
  const dp = createHash(algo);
  for (let i = 0; i < password.length; i++) dp.update(password);
  const p = repeatTo(dp.digest(), password.length);
  const ds = createHash(algo);
  for (let i = 0; i < 16 + (c[0] as number); i++) ds.update(s);
  const sb = repeatTo(ds.digest(), s.length);
  for (let i = 0; i < n; i++) {
    const round = createHash(algo);
    round.update(i & 1 ? p : c);
    if (i % 3) round.update(sb);
    if (i % 7) round.update(p);
    round.update(i & 1 ? c : p);
    c = round.digest();
  }
  // The output permutation: groups {k, k+g, k+2g} rotated by k mod 3 (in opposite
  // directions for the two variants), then the leftover bytes.
  const g = hlen === 32 ? 10 : 21;
  const at = (i: number): number => c[i] as number;
  let encoded = '';
  for (let k = 0; k < g; k++) {
    const x = at(k);
    const y = at(k + g);
    const z = at(k + 2 * g);
    const r = variant === 5 ? (3 - (k % 3)) % 3 : k % 3;
    encoded += r === 0 ? to64(x, y, z, 4) : r === 1 ? to64(y, z, x, 4) : to64(z, x, y, 4);
  }
  encoded += hlen === 32 ? to64(0, at(31), at(30), 3) : to64(0, 0, at(63), 2);
  const roundsPart = rounds === undefined ? '' : `rounds=${n}$`;
  return `$${variant}$${roundsPart}${salt}$${encoded}`;
}

/** Compares two strings in time that does not depend on where they differ (nor on their lengths). */
function sameText(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** Hash formats with a fixed prefix; the message of a rejected one names what is accepted. */
const ACCEPTED = 'expected $apr1$, $1$, $5$, $6$, {SHA} or plain:';

/** A parsed password hash that can check a password. */
export class PasswordHash {
  /** `apr1`, `md5-crypt`, `sha256-crypt`, `sha512-crypt`, `sha1` or `plain`. */
  readonly scheme: string;
  private readonly check: (password: string) => boolean;

  private constructor(scheme: string, check: (password: string) => boolean) {
    this.scheme = scheme;
    this.check = check;
  }

  /** Parses a stored hash; throws an Error with a one-line message for an unknown or malformed one. */
  static parse(text: string): PasswordHash {
    if (text.startsWith('plain:')) {
      const expected = text.slice('plain:'.length);
      return new PasswordHash('plain', (pw) => sameText(pw, expected));
    }
    if (text.startsWith('{SHA}')) {
      const digest = Buffer.from(text.slice(5), 'base64');
      if (digest.length !== 20 || digest.toString('base64') !== text.slice(5)) throw new Error('malformed {SHA} hash: expected 28 base64 characters');
      return new PasswordHash('sha1', (pw) => timingSafeEqual(createHash('sha1').update(pw, 'utf8').digest(), digest));
    }
    const md5Style = /^\$(apr1|1)\$([^$]{0,8})\$([./0-9A-Za-z]{22})$/.exec(text);
    if (md5Style) {
      const magic = md5Style[1] === 'apr1' ? '$apr1$' : '$1$';
      const salt = md5Style[2] as string;
      return new PasswordHash(magic === '$apr1$' ? 'apr1' : 'md5-crypt', (pw) => sameText(md5Crypt(Buffer.from(pw, 'utf8'), salt, magic), text));
    }
    const shaStyle = /^\$([56])\$(?:rounds=([0-9]{1,9})\$)?([^$]{0,16})\$([./0-9A-Za-z]+)$/.exec(text);
    if (shaStyle) {
      const variant = shaStyle[1] === '5' ? 5 : 6;
      const length = variant === 5 ? 43 : 86;
      if ((shaStyle[4] as string).length !== length) throw new Error(`malformed $${variant}$ hash: expected ${length} characters after the salt`);
      const rounds = shaStyle[2] === undefined ? undefined : Number(shaStyle[2]);
      if (rounds !== undefined && (rounds < SHA_CRYPT_ROUNDS_MIN || rounds > SHA_CRYPT_ROUNDS_MAX)) {
        throw new Error(`malformed $${variant}$ hash: rounds must be ${SHA_CRYPT_ROUNDS_MIN}-${SHA_CRYPT_ROUNDS_MAX}`);
      }
      const salt = shaStyle[3] as string;
      return new PasswordHash(variant === 5 ? 'sha256-crypt' : 'sha512-crypt', (pw) => sameText(shaCrypt(Buffer.from(pw, 'utf8'), salt, rounds, variant), text));
    }
    if (/^\$2[abxy]?\$/.test(text)) throw new Error(`bcrypt hashes are not supported (node:crypto has no Blowfish); ${ACCEPTED}`);
    if (/^\$(apr1|1|5|6)\$/.test(text)) throw new Error(`malformed ${text.slice(0, text.indexOf('$', 1) + 1)} hash`);
    throw new Error(`unrecognised password hash; ${ACCEPTED}`);
  }

  /** True when `password` is the one this hash was made from. */
  verify(password: string): boolean {
    return this.check(password);
  }
}

/** crypt(3) `$5$`/`$6$` of `password` (`openssl passwd -5|-6 -salt <salt>`); exported for tests and tools. */
export function shaCryptHash(password: string, salt: string, variant: 5 | 6, rounds?: number): string {
  return shaCrypt(Buffer.from(password, 'utf8'), salt.slice(0, 16), rounds, variant);
}
