import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { apr1Crypt, PasswordHash, shaCryptHash } from './password-hash.ts';

/** Vectors made with `openssl passwd` (OpenSSL 3) and checked in, so the test needs nothing installed. */
const OPENSSL_VECTORS: Array<[string, string]> = [
  ['pw', '$apr1$xxxxxxxx$chY.w2eF7dPHX8QwFFjk3/'],
  ['ipaygoodmoneyforthis', '$apr1$abc$5THPDfFgiK937RV3Pdoby0'],
  ['pässwörd', '$apr1$Zz0./9aB$2AkkS6J.ifjr7ZZo/iArt0'],
  ['pw', '$1$abcdefgh$IQtUouv7y7Q9dRWkQEPCc.'],
  ['pw', '$5$saltsalt$0rl.MZtoLLPP3X0Rdl8riRnphIcAXJY27/aOAyK2hB5'],
  ['pw', '$6$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJCEsaY6D.PLTfpV8sqvXwWdyfsgVgozkYH9B80bAip/08R2BPH2xk/'],
  ['longerpassword-with-more-than-32-bytes-in-it-yes', '$5$0123456789abcdef$Tap2rracDlU/tDvX5kzpwjYKDoasfzwyTsODX8nuQK6'],
  ['pässwörd', '$6$s$6.Q1IjFDMXFFsfV/lNgBTvzU8UqKOoHrVC4vwAFCOOuDvnsgFNcjtsGUrdhqzvwc9T3/sYN/pjpd35T0s1ZKF0'],
  ['pw', '$5$rounds=1000$abc$zdUXQ3de2d3x/8MYX1t30oZjPfJThZR5heHeVDYi8j6'],
  ['secret', '$6$rounds=12000$xyz$4h3jSEgGsrlbK5vR6XlwJ/W8ZBGz7xNpRKtdXP44MjLqDFcAXkKtW/K/.tM6.c47yjERPEFfNgcuh7pIm/qh7.'],
  // htpasswd -s: base64(sha1(pw)).
  ['pw', '{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM='],
  ['pw', 'plain:pw'],
];

describe('PasswordHash', () => {
  it.each(OPENSSL_VECTORS)('accepts %j for %s and nothing else', (password, hash) => {
    const parsed = PasswordHash.parse(hash);
    expect(parsed.verify(password)).toBe(true);
    expect(parsed.verify(`${password}x`)).toBe(false);
    expect(parsed.verify('')).toBe(false);
  });

  it('reproduces openssl passwd -apr1 and the crypt(3) $5$/$6$ outputs byte for byte', () => {
    expect(apr1Crypt('pw', 'xxxxxxxx')).toBe('$apr1$xxxxxxxx$chY.w2eF7dPHX8QwFFjk3/');
    expect(apr1Crypt('pw', 'xxxxxxxxLONGER')).toBe('$apr1$xxxxxxxx$chY.w2eF7dPHX8QwFFjk3/');
    expect(shaCryptHash('pw', 'saltsalt', 5)).toBe('$5$saltsalt$0rl.MZtoLLPP3X0Rdl8riRnphIcAXJY27/aOAyK2hB5');
    expect(shaCryptHash('pw', 'abc', 5, 1000)).toBe('$5$rounds=1000$abc$zdUXQ3de2d3x/8MYX1t30oZjPfJThZR5heHeVDYi8j6');
  });

  it('agrees with the installed openssl on random passwords and salts', () => {
    const alphabet = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    // openssl reads no password from an empty stdin, so lengths start at 9.
    for (let i = 1; i <= 8; i++) {
      const salt = Array.from(randomBytes(8), (b) => alphabet[b % 64]).join('');
      // Lengths 9..72 cross the 16-byte (MD5) and 32/64-byte (SHA) block boundaries the algorithms loop over.
      const password = randomBytes(i * 9).toString('base64').slice(0, i * 9);
      for (const flag of ['-apr1', '-1', '-5', '-6']) {
        const expected = execFileSync('openssl', ['passwd', flag, '-salt', salt, '-stdin'], { input: password }).toString().trim();
        const parsed = PasswordHash.parse(expected);
        expect([flag, password, parsed.verify(password)]).toEqual([flag, password, true]);
        if (flag === '-apr1') expect(apr1Crypt(password, salt)).toBe(expected);
      }
    }
  });

  it.each([
    ['$2y$10$abcdefghijklmnopqrstuuOBu0X3dgZ3Qz5JqJ7C6zYy3pZgQ6y2', /bcrypt hashes are not supported/],
    ['$apr1$abc$short', /malformed \$apr1\$ hash/],
    ['{SHA}notbase64', /malformed \{SHA\} hash/],
    ['$5$rounds=10$abc$zdUXQ3de2d3x/8MYX1t30oZjPfJThZR5heHeVDYi8j6', /rounds must be 1000-999999999/],
    ['hunter2', /unrecognised password hash; expected \$apr1\$, \$1\$, \$5\$, \$6\$, \{SHA\} or plain:/],
    ['abJnggxhB/yWI', /unrecognised password hash/],
  ])('rejects %s', (hash, message) => {
    expect(() => PasswordHash.parse(hash)).toThrow(message);
  });
});
