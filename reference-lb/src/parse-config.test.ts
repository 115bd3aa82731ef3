import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
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
    expect(cfg.listeners[1]?.tls).toEqual({ cert: '/etc/lb/certs/cert.pem', key: '/abs/key.pem', min_version: 'TLSv1.2' });
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
    ['two actions', variant('deny: true', 'deny: true\n        redirect: { status: 301, location: / }'), 'listeners[1].routes[0]: expected exactly one of proxy, redirect, deny, respond, got redirect, deny'],
    ['no action', variant('        deny: true\n', ''), 'listeners[1].routes[0]: expected exactly one of proxy, redirect, deny, respond, got none'],
    ['deny: false', variant('deny: true', 'deny: false'), 'listeners[1].routes[0].deny: expected true'],
    ['a regex that does not compile', variant("regex: '\\.php$'", "regex: '(['"), 'listeners[1].routes[0].match.regex: invalid regular expression "(["'],
    ['two matchers', variant('match: { exact: /api }', 'match: { exact: /api, prefix: /api }'), 'listeners[1].routes[1].match: expected at most one of prefix, exact, regex, got prefix, exact'],
    ['a relative prefix', variant('match: { prefix: /api/ }', 'match: { prefix: api/ }'), 'listeners[1].routes[2].match.prefix: expected a path starting with "/", got "api/"'],
    ['strip_prefix not a prefix of the match', variant('strip_prefix: /api', 'strip_prefix: /v1'), 'listeners[1].routes[2].proxy.strip_prefix: "/v1" is not a prefix of the route\'s match "/api/"'],
    ['an unknown template variable', variant('{host}{request_uri}', '{hostname}{request_uri}'), 'listeners[0].routes[0].redirect.location: unknown variable {hostname}'],
    ['a redirect status', variant('status: 301, location: /api/', 'status: 200, location: /api/'), 'listeners[1].routes[1].redirect.status: expected one of 301, 302, 303, 307, 308, got 200'],
    ['a string duration', variant('connect_ms: 5000', 'connect_ms: "5s"'), 'timeouts.connect_ms: expected number, got "5s"'],
    ['a negative size', variant('max_body_bytes: 0', 'max_body_bytes: -1'), 'limits.max_body_bytes: must be greater than or equal to 0, got -1'],
    ['a server address', variant('address: 10.0.0.1:13000', 'address: http://10.0.0.1:13000'), 'upstreams.sfapi.servers[0].address: expected host:port, got "http://10.0.0.1:13000"'],
    ['a duplicate server', variant('address: "[::1]:13000"', 'address: 10.0.0.1:13000'), 'upstreams.sfapi.servers[1].address: duplicate server "10.0.0.1:13000"'],
    ['an unknown balancer', variant('keepalive: 16', 'balance: random'), "upstreams.sfapi.balance: expected one of round_robin, least_conn, source_hash, consistent_hash, got \"random\""],
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

  it('limits the request head like Apache and node by default', () => {
    expect(parseConfig(VALID, 'x.yaml').limits).toEqual({ max_body_bytes: 0, request_line_bytes: 8190, header_bytes: 16_384, header_count: 100 });
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
    ['a retry_on entry', failoverVariant('retry_on: [connect_failure, timeout, 502, "503"]', 'retry_on: [conn-failure]'), 'upstreams.api_pool.retry_on[0]: expected one of connect_failure, reset, timeout, invalid_header or a status code 400-599'],
    ['a fail_on_status entry', failoverVariant('fail_on_status: [502, 503, 504]', 'fail_on_status: [200]'), 'upstreams.api_pool.passive.fail_on_status[0]:'],
    ['on_marked_down', failoverVariant('on_marked_down: shutdown_sessions', 'on_marked_down: shutdown-sessions'), 'upstreams.api_pool.on_marked_down: expected one of none, shutdown_sessions, got "shutdown-sessions"'],
    ['a duplicate server name', failoverVariant('name: backend-api-2', 'name: backend-api-1'), 'upstreams.api_pool.servers[1].name: duplicate server name "backend-api-1"'],
    ['an admin API on a public address', failoverVariant('bind: 127.0.0.1:9900', 'bind: 0.0.0.0:9900'), 'admin.bind: expected a loopback address (127.0.0.0/8, ::1 or localhost), got "0.0.0.0:9900"'],
    ['a short admin token', failoverVariant('token: s3cret-token', 'token: abc'), 'admin.token: must be at least 8 characters'],
    ['an admin API without a token', failoverVariant(', token: s3cret-token', ''), 'admin.token: required'],
    ['a request line limit below 64 bytes', variant('max_body_bytes: 0 }', 'max_body_bytes: 0, request_line_bytes: 10 }'), 'limits.request_line_bytes: must be greater than or equal to 64, got 10'],
    ['a header size limit that is not a number', variant('max_body_bytes: 0 }', 'max_body_bytes: 0, header_bytes: 16k }'), 'limits.header_bytes: expected number'],
    ['a header count of 0', variant('max_body_bytes: 0 }', 'max_body_bytes: 0, header_count: 0 }'), 'limits.header_count: must be greater than or equal to 1, got 0'],
  ])('rejects %s with one line naming the field', (_name, text, expected) => {
    expect(rejection(text)).toContain(expected);
  });

  it('accepts every YAML example in README.md, with the files it shows next to them', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const examples = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string).filter((y) => y.includes('listeners:'));
    expect(examples.length).toBeGreaterThanOrEqual(6);
    // A ```text block whose first line is `# <file name>` is a file an example names (a map, an htpasswd).
    const dir = mkdtempSync(path.join(tmpdir(), 'reference-lb-readme-'));
    try {
      for (const m of readme.matchAll(/```text\n# ([\w.-]+)\n([\s\S]*?)```/g)) writeFileSync(path.join(dir, m[1] as string), m[2] as string);
      for (const example of examples) expect(() => parseConfig(example, path.join(dir, 'readme.yaml'))).not.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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

const GATEWAY = `
upstreams:
  master1:
    balance: least_conn
    default_max_conn: 1000
    max_queue: 500
    queue_timeout_ms: 5000
    retry_on: [connect_failure, reset, timeout, invalid_header, 500, 502, 503]
    servers:
      - { address: 10.0.0.1:3001, weight: 3, max_conn: 10 }
      - { address: 10.0.0.2:3001 }
  master2:
    servers: [{ address: 10.0.0.3:3002 }]
maps:
  node_map:
    entries: { node1.example.com: master1, node2.example.com: master2 }
    default: master1
listeners:
  - name: gateway
    bind: 127.0.0.1:8080
    response_headers:
      set: { X-Frame-Options: DENY }
      add: { Vary: [Origin, Accept] }
      remove: [Server]
    routes:
      - match: { exact: /health }
        respond: { status: 200, body: "healthy\\n", headers: { Cache-Control: no-store } }
      - match: { prefix: /api/, header: { name: X-Node-Name, present: true }, methods: [GET, HEAD] }
        rate_limit: { rate_per_sec: 10, burst: 20, nodelay: true }
        auth:
          realm: Puppet masters
          users: { alice: "$apr1$xxxxxxxx$chY.w2eF7dPHX8QwFFjk3/", bob: "plain:pw" }
          groups: { vip: [alice] }
        proxy: { map: { name: node_map, key: "header:X-Node-Name" } }
      - match: { prefix: / }
        proxy: { upstream: master1 }
`;

function gatewayVariant(from: string, to: string): string {
  expect(GATEWAY).toContain(from);
  return GATEWAY.replace(from, to);
}

const filesDir = mkdtempSync(path.join(tmpdir(), 'reference-lb-parse-'));
afterAll(() => rmSync(filesDir, { recursive: true, force: true }));

/** Writes `files` next to a config in a temp dir and parses it; returns the config or the error line. */
function withFiles(config: string, files: Record<string, string>): ReturnType<typeof parseConfig> | string {
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(filesDir, name), text);
  try {
    return parseConfig(config, path.join(filesDir, 'lb.yaml'));
  } catch (err) {
    expect(isLbError(err, 'LB_ERR_CONFIG')).toBe(true);
    expect((err as Error).message).not.toContain('\n');
    return (err as Error).message;
  }
}

describe('parseConfig: maps, auth, rate limits, header rules, respond, max_conn', () => {
  it('accepts them and fills defaults', () => {
    const cfg = parseConfig(GATEWAY, 'x.yaml');
    const route = cfg.listeners[0]!.routes[1]!;
    expect(route.match).toMatchObject({ prefix: '/api/', header: { name: 'X-Node-Name', present: true, ignore_case: false }, methods: ['GET', 'HEAD'] });
    expect(route.rate_limit).toEqual({ rate_per_sec: 10, burst: 20, nodelay: true, key: 'client_ip', status: 503 });
    expect(route.auth).toMatchObject({ realm: 'Puppet masters', groups: { vip: ['alice'] } });
    expect(cfg.listeners[0]!.response_headers).toEqual({ set: { 'X-Frame-Options': 'DENY' }, add: { Vary: ['Origin', 'Accept'] }, remove: ['Server'] });
    expect(cfg.listeners[0]!.routes[0]!.respond).toEqual({ status: 200, body: 'healthy\n', headers: { 'Cache-Control': 'no-store' } });
    expect(cfg.upstreams['master1']).toMatchObject({ balance: 'least_conn', default_max_conn: 1000, max_queue: 500, queue_timeout_ms: 5000 });
    expect(cfg.upstreams['master1']!.retry_on).toEqual(['connect_failure', 'reset', 'timeout', 'invalid_header', 500, 502, 503]);
    expect(cfg.maps['node_map']).toEqual({ entries: { 'node1.example.com': 'master1', 'node2.example.com': 'master2' }, default: 'master1' });
    const minimal = parseConfig(gatewayVariant('rate_limit: { rate_per_sec: 10, burst: 20, nodelay: true }', 'rate_limit: { rate_per_sec: 0.5 }'), 'x.yaml');
    expect(minimal.listeners[0]!.routes[1]!.rate_limit).toEqual({ rate_per_sec: 0.5, burst: 0, nodelay: false, key: 'client_ip', status: 503 });
  });

  it.each([
    ['two header tests', gatewayVariant('present: true', 'present: true, value: x'), 'listeners[0].routes[1].match.header: expected exactly one of value, prefix, regex, present, got value, present'],
    ['a lower-case method', gatewayVariant('methods: [GET, HEAD]', 'methods: [get]'), 'listeners[0].routes[1].match.methods[0]: expected an upper-case method such as GET'],
    ['an empty match', gatewayVariant('match: { exact: /health }', 'match: {}'), 'listeners[0].routes[0].match: expected at least one of prefix, exact, regex, header, methods'],
    ['a header regex that does not compile', gatewayVariant('present: true', 'regex: "("'), 'listeners[0].routes[1].match.header.regex: invalid regular expression "("'],
    ['upstream and map', gatewayVariant('proxy: { map:', 'proxy: { upstream: master1, map:'), 'listeners[0].routes[1].proxy: expected exactly one of upstream, map, got both'],
    ['an unknown map', gatewayVariant('name: node_map', 'name: nodes'), 'listeners[0].routes[1].proxy.map.name: unknown map "nodes" (defined: node_map)'],
    ['a bad map key', gatewayVariant('key: "header:X-Node-Name"', 'key: "query:node"'), 'listeners[0].routes[1].proxy.map.key: expected header:<name>, path_segment:<n>, cookie:<name>, auth_user or auth_group, got "query:node"'],
    ['auth_group without auth', gatewayVariant('proxy: { upstream: master1 }', 'proxy: { map: { name: node_map, key: auth_group } }'), 'listeners[0].routes[2].proxy.map.key: auth_group needs auth on the route'],
    ['a map entry naming no upstream', gatewayVariant('node2.example.com: master2', 'node2.example.com: master9'), 'maps.node_map.entries["node2.example.com"]: unknown upstream "master9" (defined: master1, master2)'],
    ['a map default naming no upstream', gatewayVariant('default: master1', 'default: nope'), 'maps.node_map.default: unknown upstream "nope"'],
    ['a map with file and entries', gatewayVariant('default: master1', 'default: master1\n    file: x.map'), 'maps.node_map: expected exactly one of file, entries, got both'],
    ['a bcrypt hash', gatewayVariant('bob: "plain:pw"', 'bob: "$2y$05$abcdefghijklmnopqrstuu"'), 'listeners[0].routes[1].auth.users.bob: bcrypt hashes are not supported'],
    ['a realm with a quote', gatewayVariant('realm: Puppet masters', 'realm: \'Puppet "masters"\''), 'listeners[0].routes[1].auth.realm: expected printable ASCII without " or \\'],
    ['a group naming no user', gatewayVariant('vip: [alice]', 'vip: [alice, carol]'), 'listeners[0].routes[1].auth.groups.vip[1]: unknown user "carol"'],
    ['auth without users', gatewayVariant('users: { alice: "$apr1$xxxxxxxx$chY.w2eF7dPHX8QwFFjk3/", bob: "plain:pw" }', 'users: {}').replace('groups: { vip: [alice] }', 'groups: {}'), 'listeners[0].routes[1].auth: expected at least one user (users or users_file)'],
    ['a zero rate', gatewayVariant('rate_per_sec: 10', 'rate_per_sec: 0'), 'listeners[0].routes[1].rate_limit.rate_per_sec: must be greater than 0'],
    ['a rate limit key', gatewayVariant('nodelay: true }', 'nodelay: true, key: "cookie:x" }'), 'listeners[0].routes[1].rate_limit.key: expected client_ip or header:<name>, got "cookie:x"'],
    ['a rate limit status', gatewayVariant('nodelay: true }', 'nodelay: true, status: 200 }'), 'listeners[0].routes[1].rate_limit.status: expected a status code 400-599'],
    ['a framing header rule', gatewayVariant('remove: [Server]', 'remove: [Server, Content-Length]'), 'listeners[0].response_headers.remove[1]: "Content-Length" is a framing or hop-by-hop field the LB manages itself'],
    ['a header value with a line break', gatewayVariant('X-Frame-Options: DENY', 'X-Frame-Options: "DENY\\r\\nX: y"'), 'listeners[0].response_headers.set.X-Frame-Options: expected printable ASCII (no line breaks), got "DENY\\r\\nX: y"'],
    ['a body on a 204', gatewayVariant('status: 200, body', 'status: 204, body'), 'listeners[0].routes[0].respond.body: a 204 response has no body'],
    ['max_queue without max_conn', gatewayVariant('servers: [{ address: 10.0.0.3:3002 }]', 'max_queue: 10\n    servers: [{ address: 10.0.0.3:3002 }]'), 'upstreams.master2.max_queue: only with default_max_conn or a server max_conn'],
    ['a max_conn of 0', gatewayVariant('max_conn: 10 }', 'max_conn: 0 }'), 'upstreams.master1.servers[0].max_conn: must be greater than or equal to 1, got 0'],
  ])('rejects %s with one line naming the field', (_name, text, expected) => {
    expect(rejection(text)).toContain(expected);
  });

  it('reads map files and htpasswd files relative to the config, naming the field and line of a problem', () => {
    const fileMap = gatewayVariant('entries: { node1.example.com: master1, node2.example.com: master2 }', 'file: node-master.map');
    const ok = withFiles(fileMap, { 'node-master.map': '# generated\nnode1.example.com master2\n' });
    expect(typeof ok === 'string' ? ok : ok.maps['node_map']).toEqual({ file: path.join(filesDir, 'node-master.map'), entries: { 'node1.example.com': 'master2' }, default: 'master1' });
    expect(withFiles(fileMap.replace('node-master.map', 'missing.map'), {})).toBe(`reference-lb config: maps.node_map.file: cannot read "${path.join(filesDir, 'missing.map')}": ENOENT`);
    expect(withFiles(fileMap, { 'node-master.map': 'node1 master1\nnode2\n' })).toContain('maps.node_map.file: ');
    expect(withFiles(fileMap, { 'node-master.map': 'node1 master1\nnode2\n' })).toContain('node-master.map: line 2: expected "<key> <value>", got "node2"');
    expect(withFiles(fileMap, { 'node-master.map': 'node1 master7\n' })).toBe('reference-lb config: maps.node_map.file: key "node1": unknown upstream "master7" (defined: master1, master2)');

    const htpasswd = gatewayVariant('groups: { vip: [alice] }', 'users_file: htpasswd\n          groups: { vip: [alice, carol] }');
    const withUsers = withFiles(htpasswd, { htpasswd: 'carol:{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM=\n\n# comment\n' });
    expect(typeof withUsers === 'string' ? withUsers : Object.keys(withUsers.listeners[0]!.routes[1]!.auth!.users)).toEqual(['alice', 'bob', 'carol']);
    expect(withFiles(htpasswd, { htpasswd: 'carol:{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM=\ndave:$2y$10$x\n' })).toContain(
      'listeners[0].routes[1].auth.users_file: ' + path.join(filesDir, 'htpasswd') + ': line 2: user "dave": bcrypt hashes are not supported',
    );
    expect(withFiles(htpasswd, { htpasswd: 'carol:plain:x\nbob:plain:y\n' })).toBe('reference-lb config: listeners[0].routes[1].auth.users_file: user "bob" is also in users');
    expect(withFiles(htpasswd, { htpasswd: 'nocolon\n' })).toContain('line 1: expected "<user>:<hash>"');
  });
});
