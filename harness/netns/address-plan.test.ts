import { describe, expect, it } from 'vitest';
import { AddressPlan, MAX_HOSTS_PER_RUN, contains, formatIpv4, overlaps, parseIpv4, parsePrefix } from './address-plan.ts';
import { linkNamespace, namespaceOwner, nextRootLinkName, nextRunKey } from './run-names.ts';

describe('AddressPlan', () => {
  const plan = new AddressPlan();

  it('gives host i the i-th /30 of the block: root side .4i+1, host side .4i+2', () => {
    expect(plan.block(7)).toBe('10.251.7.0/24');
    expect(plan.host(7, 0)).toEqual({ subnet: '10.251.7.0/30', rootAddress: '10.251.7.1', hostAddress: '10.251.7.2' });
    expect(plan.host(7, 63)).toEqual({ subnet: '10.251.7.252/30', rootAddress: '10.251.7.253', hostAddress: '10.251.7.254' });
    expect(() => plan.host(7, MAX_HOSTS_PER_RUN)).toThrow(RangeError);
  });

  it('tries every block once, starting from the seed', () => {
    const order = plan.blockOrder(4242);
    expect(order[0]).toBe(4242 % 256);
    expect(new Set(order).size).toBe(256);
  });

  it('accepts only a private /16', () => {
    expect(new AddressPlan('192.168.0.0/16').block(1)).toBe('192.168.1.0/24');
    expect(() => new AddressPlan('10.251.0.0/24')).toThrow(/testRange/);
    expect(() => new AddressPlan('10.251.3.0/16')).toThrow(/testRange/);
    expect(() => new AddressPlan('8.8.0.0/16')).toThrow(/private/);
  });
});

describe('IPv4 prefixes', () => {
  it('parses and formats addresses', () => {
    expect(formatIpv4(parseIpv4('10.251.7.254') as number)).toBe('10.251.7.254');
    expect(parseIpv4('10.251.7')).toBeUndefined();
    expect(parseIpv4('10.256.0.1')).toBeUndefined();
    expect(parsePrefix('default')).toEqual({ network: 0, length: 0 });
    expect(parsePrefix('10.251.7.9/30')).toEqual({ network: parseIpv4('10.251.7.8'), length: 30 });
    expect(parsePrefix('10.251.7.9/33')).toBeUndefined();
  });

  it('tells overlap from containment', () => {
    const range = parsePrefix('10.251.0.0/16')!;
    expect(overlaps(range, parsePrefix('10.0.0.0/8')!)).toBe(true);
    expect(contains(range, parsePrefix('10.0.0.0/8')!)).toBe(false);
    expect(contains(range, parsePrefix('10.251.9.4/30')!)).toBe(true);
    expect(overlaps(range, parsePrefix('10.252.0.0/16')!)).toBe(false);
    expect(overlaps(range, parsePrefix('192.0.2.0/24')!)).toBe(false);
  });
});

describe('run names', () => {
  it('carries the owner pid in namespace names and fits veth names in 15 bytes', () => {
    const key = nextRunKey();
    expect(namespaceOwner(`${key}-3`)).toBe(process.pid);
    expect(namespaceOwner('netns-1234-0')).toBeUndefined();
    const link = nextRootLinkName();
    expect(link.length).toBeLessThanOrEqual(15);
    expect(linkNamespace(link, `lbdrill ${key}-0`)).toBe(`${key}-0`);
    expect(linkNamespace(link, 'some other alias')).toBeUndefined();
    expect(linkNamespace('eth0', `lbdrill ${key}-0`)).toBeUndefined();
  });
});
