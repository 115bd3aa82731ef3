import { readFileSync } from 'node:fs';
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
    ['an unknown balancer', variant('keepalive: 16', 'balance: random'), "upstreams.sfapi.balance: expected one of round_robin, source_hash, consistent_hash, got \"random\""],
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

const FAILOVER = `
upstreams:
  api_pool:
    retries: 2
    redispatch: false
    retry_on: [connect_failure, timeout, 502, "503"]
    health_check: { path: /api/v1/health, interval_ms: 5000, timeout_ms: 2000, fall: 3, rise: 2 }
    passive: { max_fails: 3, fail_timeout_ms: 10000, fail_on_status: [502, 503, 504] }
    slowstart_ms: 30000
    on_marked_down: shutdown_sessions
    servers:
      - { name: backend-api-1, address: 10.0.0.11:8080, weight: 10 }
      - { name: backend-api-2, address: 10.0.0.12:8080, backup: true }
listeners:
  - name: http
    bind: 127.0.0.1:8080
    routes:
      - match: { prefix: / }
        proxy: { upstream: api_pool }
admin: { bind: 127.0.0.1:9900, token: s3cret-token }
`;

function failoverVariant(from: string, to: string): string {
  expect(FAILOVER).toContain(from);
  return FAILOVER.replace(from, to);
}

describe('parseConfig: failover fields', () => {
  it('accepts them and normalises retry_on statuses to numbers', () => {
    const up = parseConfig(FAILOVER, 'x.yaml').upstreams['api_pool']!;
    expect(up.retry_on).toEqual(['connect_failure', 'timeout', 502, 503]);
    expect(up.health_check).toEqual({ path: '/api/v1/health', interval_ms: 5000, timeout_ms: 2000, fall: 3, rise: 2, expect_status: ['2xx', '3xx'] });
    expect(up.servers[0]).toMatchObject({ weight: 10, backup: false });
    expect(up.servers[1]).toMatchObject({ weight: 1, backup: true });
  });

  it('defaults to no checks, no passive ejection, redispatch, connect-failure retries only', () => {
    const up = parseConfig(VALID, 'x.yaml').upstreams['sfapi']!;
    expect(up).toMatchObject({ redispatch: true, retry_on: ['connect_failure'], slowstart_ms: 0, on_marked_down: 'none' });
    expect(up.health_check).toBeUndefined();
    expect(up.passive).toBeUndefined();
    expect(parseConfig(VALID, 'x.yaml').admin).toBeUndefined();
    const hc = parseConfig(failoverVariant('interval_ms: 5000, timeout_ms: 2000, fall: 3, rise: 2', 'rise: 2'), 'x.yaml').upstreams['api_pool']!.health_check;
    expect(hc).toEqual({ path: '/api/v1/health', interval_ms: 2000, fall: 3, rise: 2, expect_status: ['2xx', '3xx'] });
  });

  it.each([
    ['a weight of 0', failoverVariant('weight: 10', 'weight: 0'), 'upstreams.api_pool.servers[0].weight: must be greater than or equal to 1, got 0'],
    ['a weight over 256', failoverVariant('weight: 10', 'weight: 257'), 'upstreams.api_pool.servers[0].weight: must be less than or equal to 256, got 257'],
    ['a relative health path', failoverVariant('path: /api/v1/health', 'path: api/v1/health'), 'upstreams.api_pool.health_check.path: expected a path starting with "/"'],
    ['a health check field typo', failoverVariant('fall: 3', 'falls: 3'), 'upstreams.api_pool.health_check.falls: unknown field'],
    ['an expect_status entry', failoverVariant('rise: 2 }', 'rise: 2, expect_status: [2xx, ok] }'), 'upstreams.api_pool.health_check.expect_status[1]: expected a status 100-599 or one of'],
    ['a retry_on entry', failoverVariant('retry_on: [connect_failure, timeout, 502, "503"]', 'retry_on: [conn-failure]'), 'upstreams.api_pool.retry_on[0]: expected one of connect_failure, reset, timeout or a status code 400-599'],
    ['a fail_on_status entry', failoverVariant('fail_on_status: [502, 503, 504]', 'fail_on_status: [200]'), 'upstreams.api_pool.passive.fail_on_status[0]:'],
    ['on_marked_down', failoverVariant('on_marked_down: shutdown_sessions', 'on_marked_down: shutdown-sessions'), 'upstreams.api_pool.on_marked_down: expected one of none, shutdown_sessions, got "shutdown-sessions"'],
    ['a duplicate server name', failoverVariant('name: backend-api-2', 'name: backend-api-1'), 'upstreams.api_pool.servers[1].name: duplicate server name "backend-api-1"'],
    ['an admin API on a public address', failoverVariant('bind: 127.0.0.1:9900', 'bind: 0.0.0.0:9900'), 'admin.bind: expected a loopback address (127.0.0.0/8, ::1 or localhost), got "0.0.0.0:9900"'],
    ['a short admin token', failoverVariant('token: s3cret-token', 'token: abc'), 'admin.token: must be at least 8 characters'],
    ['an admin API without a token', failoverVariant(', token: s3cret-token', ''), 'admin.token: required'],
  ])('rejects %s with one line naming the field', (_name, text, expected) => {
    expect(rejection(text)).toContain(expected);
  });

  it('accepts every YAML example in README.md', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const examples = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string).filter((y) => y.includes('listeners:'));
    expect(examples.length).toBeGreaterThanOrEqual(2);
    for (const example of examples) expect(() => parseConfig(example, '/etc/lb/readme.yaml')).not.toThrow();
  });
});

const STICKY_WS = `
upstreams:
  api_pool:
    sticky: { cookie: VEZA_SERVERID, indirect: true, nocache: true }
    tunnel_timeout_ms: 3600000
    servers:
      - { name: backend-api-1, address: 10.0.0.11:8080, cookie_value: api1 }
      - { name: backend-api-2, address: 10.0.0.12:8080 }
  stream_pool:
    balance: consistent_hash
    hash_key: uri
    servers:
      - { name: stream-srv-1, address: 10.0.0.21:8082 }
listeners:
  - name: http
    bind: 127.0.0.1:8080
    routes:
      - match: { prefix: / }
        proxy: { upstream: api_pool }
`;

function stickyVariant(from: string, to: string): string {
  expect(STICKY_WS).toContain(from);
  return STICKY_WS.replace(from, to);
}

describe('parseConfig: sticky, hashing and tunnel fields', () => {
  it('accepts them and fills defaults', () => {
    const cfg = parseConfig(STICKY_WS, 'x.yaml');
    expect(cfg.upstreams['api_pool']).toMatchObject({ balance: 'round_robin', sticky: { cookie: 'VEZA_SERVERID', mode: 'insert', indirect: true, nocache: true }, tunnel_timeout_ms: 3_600_000 });
    expect(cfg.upstreams['api_pool']!.servers.map((s) => s.cookie_value)).toEqual(['api1', undefined]);
    expect(cfg.upstreams['stream_pool']).toMatchObject({ balance: 'consistent_hash', hash_key: 'uri', tunnel_timeout_ms: 3_600_000 });
    expect(cfg.upstreams['stream_pool']!.sticky).toBeUndefined();
    const minimal = parseConfig(stickyVariant('{ cookie: VEZA_SERVERID, indirect: true, nocache: true }', '{ cookie: SRV }'), 'x.yaml');
    expect(minimal.upstreams['api_pool']!.sticky).toEqual({ cookie: 'SRV', mode: 'insert', indirect: false, nocache: false });
    for (const key of ['path', 'header:X-Track-Id', 'cookie:track']) {
      expect(parseConfig(stickyVariant('hash_key: uri', `hash_key: "${key}"`), 'x.yaml').upstreams['stream_pool']!.hash_key).toBe(key);
    }
    expect(parseConfig(stickyVariant('    hash_key: uri\n', ''), 'x.yaml').upstreams['stream_pool']!.balance).toBe('consistent_hash');
    expect(parseConfig(stickyVariant('balance: consistent_hash\n    hash_key: uri', 'balance: source_hash'), 'x.yaml').upstreams['stream_pool']!.balance).toBe('source_hash');
  });

  it.each([
    ['hash_key without consistent_hash', stickyVariant('balance: consistent_hash', 'balance: source_hash'), 'upstreams.stream_pool.hash_key: only with balance: consistent_hash (balance is source_hash)'],
    ['an unknown hash_key', stickyVariant('hash_key: uri', 'hash_key: query'), 'upstreams.stream_pool.hash_key: expected uri, path, header:<name> or cookie:<name>, got "query"'],
    ['a header hash_key without a name', stickyVariant('hash_key: uri', 'hash_key: "header:"'), 'upstreams.stream_pool.hash_key: expected uri, path, header:<name> or cookie:<name>, got "header:"'],
    ['cookie_value without sticky', stickyVariant('name: stream-srv-1,', 'name: stream-srv-1, cookie_value: s1,'), 'upstreams.stream_pool.servers[0].cookie_value: only with sticky'],
    ['a duplicate cookie value', stickyVariant('cookie_value: api1', 'cookie_value: backend-api-2'), 'upstreams.api_pool.servers[1].name: duplicate sticky cookie value "backend-api-2"'],
    ['a cookie value with a semicolon', stickyVariant('cookie_value: api1', 'cookie_value: "a;b"'), 'upstreams.api_pool.servers[0].cookie_value: expected a cookie value (printable ASCII without space, quote, comma, semicolon or backslash), got "a;b"'],
    ['a server name that cannot be a cookie value', stickyVariant('name: backend-api-2', 'name: backend api 2'), 'upstreams.api_pool.servers[1].name: "backend api 2" cannot be a cookie value; set cookie_value'],
    ['a cookie name with a space', stickyVariant('cookie: VEZA_SERVERID', 'cookie: VEZA SERVERID'), 'upstreams.api_pool.sticky.cookie: expected a cookie name'],
    ['a sticky mode HAProxy has but this LB does not', stickyVariant('cookie: VEZA_SERVERID,', 'cookie: VEZA_SERVERID, mode: rewrite,'), 'upstreams.api_pool.sticky.mode: expected one of insert, got "rewrite"'],
    ['an unknown sticky field', stickyVariant('nocache: true', 'nocache: true, httponly: true'), 'upstreams.api_pool.sticky.httponly: unknown field'],
    ['a sticky without a cookie name', stickyVariant('cookie: VEZA_SERVERID, ', ''), 'upstreams.api_pool.sticky.cookie: required'],
    ['a negative tunnel timeout', stickyVariant('tunnel_timeout_ms: 3600000', 'tunnel_timeout_ms: -1'), 'upstreams.api_pool.tunnel_timeout_ms: must be greater than or equal to 0, got -1'],
  ])('rejects %s with one line naming the field', (_name, text, expected) => {
    expect(rejection(text)).toContain(expected);
  });
});
