import { describe, expect, it } from 'vitest';
import { isLbError } from './errors.ts';
import { parseConfig } from './parse-config.ts';

const VALID = `
upstreams:
  sfapi:
    keepalive: 16
    retries: 1
    servers:
      - address: 10.0.0.1:13000
      - address: "[::1]:13000"
timeouts: { connect_ms: 5000, read_ms: 3600000, send_ms: 3600000, client_idle_ms: 3600000 }
limits: { max_body_bytes: 0 }
buffering: { request: false, response: false }
headers: { preserve_host: true, forwarded: true }
listeners:
  - name: http
    bind: 127.0.0.1:8080
    server_names: [sf.example.com]
    routes:
      - match: { prefix: / }
        redirect: { status: 301, location: "https://{host}{request_uri}" }
  - name: https
    bind: 127.0.0.1:8443
    tls: { cert: certs/cert.pem, key: /abs/key.pem }
    routes:
      - match: { regex: '\\.php$', ignore_case: true }
        deny: true
      - match: { exact: /api }
        redirect: { status: 301, location: /api/ }
      - match: { prefix: /api/ }
        proxy: { upstream: sfapi, strip_prefix: /api }
      - match: { prefix: / }
        proxy: { upstream: sfapi, headers: { forwarded: false } }
`;

/** Parses `text` expecting a config error; returns its one-line message. */
function rejection(text: string): string {
  try {
    parseConfig(text, '/etc/lb/test.yaml');
  } catch (err) {
    expect(isLbError(err, 'LB_ERR_CONFIG')).toBe(true);
    const message = (err as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('config was accepted');
}

/** VALID with one line replaced. */
function variant(from: string, to: string): string {
  expect(VALID).toContain(from);
  return VALID.replace(from, to);
}

describe('parseConfig', () => {
  it('accepts the shakenfist-api config and fills defaults', () => {
    const cfg = parseConfig(VALID, '/etc/lb/test.yaml');
    expect(cfg.upstreams['sfapi']?.servers).toHaveLength(2);
    expect(cfg.upstreams['sfapi']?.balance).toBe('round_robin');
    expect(cfg.timeouts.client_header_ms).toBe(60_000);
    expect(cfg.workers).toBe(1);
    expect(cfg.listeners[1]?.tls).toEqual({ cert: '/etc/lb/certs/cert.pem', key: '/abs/key.pem' });
    expect(cfg.listeners[1]?.routes[3]?.proxy?.headers).toEqual({ forwarded: false });
  });

  it('accepts JSON', () => {
    const cfg = parseConfig(JSON.stringify({ listeners: [{ name: 'a', bind: '127.0.0.1:0', routes: [{ match: { prefix: '/' }, deny: true }] }] }), 'x.json');
    expect(cfg.listeners[0]?.name).toBe('a');
  });

  it.each([
    ['a bind without host', variant('bind: 127.0.0.1:8080', 'bind: "80"'), 'reference-lb config: listeners[0].bind: expected host:port, got "80"'],
    ['a port out of range', variant('bind: 127.0.0.1:8080', 'bind: 127.0.0.1:70000'), 'listeners[0].bind: expected host:port, got "127.0.0.1:70000"'],
    ['an unknown field', variant('server_names: [sf.example.com]', 'server_name: [sf.example.com]'), 'reference-lb config: listeners[0].server_name: unknown field'],
    ['an unknown upstream', variant('proxy: { upstream: sfapi, strip_prefix: /api }', 'proxy: { upstream: api }'), 'listeners[1].routes[2].proxy.upstream: unknown upstream "api" (defined: sfapi)'],
    ['two actions', variant('deny: true', 'deny: true\n        redirect: { status: 301, location: / }'), 'listeners[1].routes[0]: expected exactly one of proxy, redirect, deny, got redirect, deny'],
    ['no action', variant('        deny: true\n', ''), 'listeners[1].routes[0]: expected exactly one of proxy, redirect, deny, got none'],
    ['deny: false', variant('deny: true', 'deny: false'), 'listeners[1].routes[0].deny: expected true'],
    ['a regex that does not compile', variant("regex: '\\.php$'", "regex: '(['"), 'listeners[1].routes[0].match.regex: invalid regular expression "(["'],
    ['two matchers', variant('match: { exact: /api }', 'match: { exact: /api, prefix: /api }'), 'listeners[1].routes[1].match: expected exactly one of prefix, exact, regex, got prefix, exact'],
    ['a relative prefix', variant('match: { prefix: /api/ }', 'match: { prefix: api/ }'), 'listeners[1].routes[2].match.prefix: expected a path starting with "/", got "api/"'],
    ['strip_prefix not a prefix of the match', variant('strip_prefix: /api', 'strip_prefix: /v1'), 'listeners[1].routes[2].proxy.strip_prefix: "/v1" is not a prefix of the route\'s match "/api/"'],
    ['an unknown template variable', variant('{host}{request_uri}', '{hostname}{request_uri}'), 'listeners[0].routes[0].redirect.location: unknown variable {hostname}'],
    ['a redirect status', variant('status: 301, location: /api/', 'status: 200, location: /api/'), 'listeners[1].routes[1].redirect.status: expected one of 301, 302, 303, 307, 308, got 200'],
    ['a string duration', variant('connect_ms: 5000', 'connect_ms: "5s"'), 'timeouts.connect_ms: expected number, got "5s"'],
    ['a negative size', variant('max_body_bytes: 0', 'max_body_bytes: -1'), 'limits.max_body_bytes: must be greater than or equal to 0, got -1'],
    ['a server address', variant('address: 10.0.0.1:13000', 'address: http://10.0.0.1:13000'), 'upstreams.sfapi.servers[0].address: expected host:port, got "http://10.0.0.1:13000"'],
    ['a duplicate server', variant('address: "[::1]:13000"', 'address: 10.0.0.1:13000'), 'upstreams.sfapi.servers[1].address: duplicate server "10.0.0.1:13000"'],
    ['an unknown balancer', variant('keepalive: 16', 'balance: random'), "upstreams.sfapi.balance: expected one of round_robin, got \"random\""],
    ['a duplicate listener name', variant('name: https', 'name: http'), 'listeners[1].name: duplicate listener name "http"'],
    ['a worker count', variant('limits: { max_body_bytes: 0 }', 'limits: { max_body_bytes: 0 }\nworkers: many'), 'workers: expected an integer from 1 to 256 or "auto", got "many"'],
    ['a missing routes list', variant('    server_names: [sf.example.com]\n    routes:\n      - match: { prefix: / }\n        redirect: { status: 301, location: "https://{host}{request_uri}" }\n', '    server_names: [sf.example.com]\n'), 'listeners[0].routes: required'],
  ])('rejects %s with one line naming the field', (_name, text, expected) => {
    expect(rejection(text)).toContain(expected);
  });

  it('reports YAML syntax errors with file, line and column', () => {
    expect(rejection('listeners: [\n  - {')).toMatch(/^reference-lb config: \/etc\/lb\/test\.yaml:\d+:\d+: /);
  });

  it('rejects duplicate keys', () => {
    expect(rejection('workers: 1\nworkers: 2\n')).toMatch(/test\.yaml:2:1: .*[Uu]nique/);
  });

  it('rejects an empty file', () => {
    expect(rejection('')).toBe('reference-lb config: (top level): expected a mapping, got nothing');
  });
});
