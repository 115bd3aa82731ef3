import { describe, expect, it } from 'vitest';
import { cookieIn, findCookie, removeCookie, stripCookie } from './cookie-header.ts';

describe('cookieIn / findCookie', () => {
  it.each([
    ['VEZA_SERVERID=api1', 'api1'],
    ['a=1; VEZA_SERVERID=api2; b=2', 'api2'],
    ['a=1;VEZA_SERVERID=api2 ;b', 'api2'],
    ['X_VEZA_SERVERID=api1; VEZA_SERVERID_OLD=x', undefined],
    ['veza_serverid=api1', undefined],
    ['VEZA_SERVERID=', ''],
    ['VEZA_SERVERID="q"', '"q"'],
    ['VEZA_SERVERID=first; VEZA_SERVERID=second', 'first'],
    ['', undefined],
  ])('%j -> %j', (header, expected) => {
    expect(cookieIn(header, 'VEZA_SERVERID')).toBe(expected);
  });

  it('looks through every Cookie field, whatever its case', () => {
    expect(findCookie(['Host', 'x', 'cookie', 'a=1', 'COOKIE', 'S=api2'], 'S')).toBe('api2');
    expect(findCookie(['Host', 'x', 'X-Cookie', 'S=api2'], 'S')).toBeUndefined();
  });
});

describe('removeCookie / stripCookie', () => {
  it.each([
    ['a=1; S=api1; b=2', 'a=1; b=2'],
    ['S=api1; a=1', 'a=1'],
    ['a=1; S=api1', 'a=1'],
    ['a=1;S=api1;b="x y"', 'a=1;b="x y"'],
    ['S=api1', ''],
    ['S=a; S=b', ''],
    ['SS=1;  a=%20 ; S_x=2', 'SS=1;  a=%20 ; S_x=2'],
  ])('%j -> %j (other cookies byte for byte)', (header, expected) => {
    expect(removeCookie(header, 'S')).toBe(expected);
  });

  it('edits Cookie fields in place and drops those left empty', () => {
    const headers = ['Host', 'h', 'Cookie', 'S=api1', 'Accept', '*/*', 'cookie', 'a=1; S=api2', 'Cookie', 'b=2'];
    stripCookie(headers, 'S');
    expect(headers).toEqual(['Host', 'h', 'Accept', '*/*', 'cookie', 'a=1', 'Cookie', 'b=2']);
  });
});
