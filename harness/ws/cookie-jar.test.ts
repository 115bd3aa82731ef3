import { describe, expect, it } from 'vitest';
import { CookieJar } from './cookie-jar.ts';

describe('CookieJar', () => {
  it('keeps presets, stores Set-Cookie values and sends them back as one Cookie header', () => {
    const jar = new CookieJar({ user: 'u1' });
    jar.store(['SRV=b2; Path=/; HttpOnly', 'theme="dark"; Max-Age=3600'], 1000);
    expect(jar.header(1000)).toBe('user=u1; SRV=b2; theme=dark');
    jar.store('SRV=b3', 2000);
    expect(jar.get('SRV', 2000)).toBe('b3');
    expect(jar.toObject(2000)).toEqual({ user: 'u1', SRV: 'b3', theme: 'dark' });
  });

  it('expires cookies by Max-Age (which wins over Expires) and deletes on Max-Age=0 or a past Expires', () => {
    const jar = new CookieJar();
    const t = Date.parse('2030-01-01T00:00:00Z');
    jar.store(['a=1; Max-Age=10; Expires=Wed, 01 Jan 2031 00:00:00 GMT', 'b=2; Expires=Wed, 01 Jan 2031 00:00:00 GMT'], t);
    expect(jar.get('a', t + 9_000)).toBe('1');
    expect(jar.get('a', t + 10_000)).toBeUndefined();
    expect(jar.get('b', t + 10_000)).toBe('2');
    jar.store('b=; Max-Age=0', t);
    expect(jar.get('b', t)).toBeUndefined();
    jar.set('c', '3');
    jar.store('c=3; Expires=Thu, 01 Jan 1970 00:00:00 GMT', t);
    expect(jar.header(t)).toBeUndefined();
  });

  it('ignores lines without a name', () => {
    const jar = new CookieJar();
    jar.store(['=x', 'novalue', '']);
    expect(jar.header()).toBeUndefined();
  });
});
