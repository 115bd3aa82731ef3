/**
 * The contract between a target's config renderer and the runner.
 *
 * Rendering a user's config is two-phase: `analyze` reads the file as published and
 * lists what cannot exist on this machine (upstream addresses, listen ports, TLS
 * material, log/pid/temp paths); the runner allocates test backends and loopback
 * ports for them; `render` then rewrites only those spans. Edits never add or remove
 * lines in the user's file, so a line number in the proxy's own error message is a
 * line number in the user's file.
 */

/** One upstream server as written in the config (nginx `server`, HAProxy `server`, Apache `BalancerMember`). */
export interface UpstreamRef {
  /** upstream / backend / balancer name the server belongs to ("sfapi", "api_pool"). */
  pool: string;
  /** server name where the syntax has one (HAProxy `server NAME`), else the address. */
  name: string;
  /** address as written, normalised to host:port ("10.0.0.1:13000"); a missing port gets the scheme default. */
  address: string;
  /** 1-based line in the source file. */
  line: number;
  /** true for a backup server (nginx `backup`, HAProxy `backup`, Apache `status=+H`). */
  backup: boolean;
  /** absolute path of the file the line is in, when it is not the source file itself (an included file). */
  file?: string;
  /** the server's weight as written (nginx `weight=`, HAProxy `weight`, Apache `loadfactor=`, reference `weight`); undefined when the line sets none. */
  weight?: number;
  /** the cookie value that pins a client to this server (HAProxy `cookie V`, Apache `route=V`), when the line sets one. */
  cookieValue?: string;
  /** the LB speaks TLS to this server (HAProxy `ssl`, nginx `proxy_pass https://`, Apache `https://`/`wss://`), so its test backend must too. */
  tls?: true;
}

/** One listening socket as written (nginx `listen`, HAProxy `bind`, Apache `Listen`/`<VirtualHost>`). */
export interface ListenerRef {
  /** the listen spec as written ("443", "*:80", "[::]:443"). */
  spec: string;
  /** port number in the spec. */
  port: number;
  /**
   * the address the spec names ("127.201.128.1"), when it names one; undefined for a wildcard.
   * Two listeners on one port with different addresses are two sockets, and get two loopback ports.
   */
  address?: string;
  /** the pools this listener's block routes to, where the dialect reads them (HAProxy `use_backend`/`default_backend`, a `listen` section's own servers). */
  pools?: string[];
  /** the socket speaks TLS (nginx `ssl`, HAProxy `ssl crt`, Apache `SSLEngine on`). */
  tls: boolean;
  /** host names configured for this listener (server_name / ServerName / ServerAlias); may be empty. */
  serverNames: string[];
  line: number;
  /** absolute path of the file the line is in, when it is not the source file itself. */
  file?: string;
  /**
   * What the config itself says about TLS versions for this listener (nginx `ssl_protocols`,
   * HAProxy `ssl-min-ver`/`no-tlsv1x`/`ssl-default-bind-options`, Apache `SSLProtocol`,
   * reference `tls.min_version`), as written; undefined when it says nothing (the TLS library's defaults apply).
   */
  tlsProtocols?: ConfigStatement;
  /** what the config lets a client of this listener do before the LB cuts it off (its server block, frontend, vhost), defaults included. */
  limits?: ClientLimits;
}

/** A client-side limit as the config sets it, or the proxy's documented default when the config says nothing. */
export interface ClientLimit {
  /** ms for a timeout, bytes for a size; null: no limit at all (HAProxy without `timeout client`). */
  value: number | null;
  /** the directive that sets it; undefined when the proxy's default holds. */
  at?: ConfigStatement;
  /** where the value comes from in words: the directive's part that sets it, or the default as the proxy documents it. */
  source: string;
}

/**
 * A listener's read timeouts and header size limit: nginx client_header_timeout, client_body_timeout,
 * large_client_header_buffers; HAProxy timeout http-request (else timeout client), timeout client,
 * tune.bufsize - tune.maxrewrite; Apache RequestReadTimeout header= body=, LimitRequestFieldSize;
 * reference LB timeouts.client_header_ms, send_ms and node's header size limit.
 */
export interface ClientLimits {
  /** the whole request head must have arrived within this, in ms. */
  headerTimeoutMs: ClientLimit;
  /** the longest silence while a request body arrives, in ms. */
  bodyTimeoutMs: ClientLimit;
  /** the largest header accepted, in bytes: of one field line (`field`: name, colon, value, CRLF) or of the whole request head (`head`). */
  headerBytes: ClientLimit & { scope: 'field' | 'head' };
}

/** A directive as written in the config, with where it is (for bindings and evidence). */
export interface ConfigStatement {
  /** the directive's text as written, trimmed ("ssl_protocols TLSv1.2 TLSv1.3;"). */
  text: string;
  /** 1-based line. */
  line: number;
  /** absolute path of the file, when it is not the source file itself. */
  file?: string;
}

/** What `analyze` found in a config. */
export interface ConfigAnalysis {
  upstreams: UpstreamRef[];
  listeners: ListenerRef[];
  /** the file is a fragment (nginx `server` blocks without `http`, an Apache vhost) and must be wrapped. */
  fragment: boolean;
  /** health and failover settings per pool, as written (before any time scaling); pools without any are omitted. */
  pools?: PoolHealth[];
  /**
   * Basic-auth users the config itself declares, where the dialect reads them (HAProxy `userlist`):
   * the password only where it is written in clear (`insecure-password`). Undefined when the config declares none.
   */
  authUsers?: ConfigAuthUser[];
  /** files the config names (maps, password files, included snippets), read by analyze; render copies them into the run dir. */
  files?: CompanionFile[];
  /** further files the proxy reads as part of the same config after the source file (HAProxy's second and later `-f`), as analyze was given them. */
  mains?: SourceFile[];
}

/** One user a config declares for basic auth. */
export interface ConfigAuthUser {
  name: string;
  /** the password in clear, where the config writes it so (HAProxy `insecure-password`); undefined for a hash. */
  password?: string;
  /** the list it belongs to (HAProxy userlist name). */
  list: string;
  line: number;
  file?: string;
}

/** A config file's path and text, as read. */
export interface SourceFile {
  path: string;
  content: string;
}

/** What a companion file is to the proxy. */
export type CompanionKind = 'map' | 'htpasswd' | 'groups' | 'include' | 'errorfile';

/**
 * A file the config names next to itself: HAProxy `map*(<path>)`, `set-map(<path>)`, `errorfile`;
 * nginx `include`, `auth_basic_user_file`; Apache `AuthUserFile`, `AuthGroupFile`, `RewriteMap txt:`, `Include`.
 * Copied verbatim, except kind `include`: a file of the config tree (nginx `include`, Apache
 * `Include`/`IncludeOptional`, one entry per file a glob matched), analyzed and rendered like the
 * source file (config-tree.ts).
 */
export interface CompanionFile {
  /** the path as written in the config. */
  path: string;
  /** 1-based line in the source file. */
  line: number;
  kind: CompanionKind;
  /** where analyze found it (see readCompanions in config-text.ts for the lookup rule). */
  foundAt: string;
  /** the file's text, so that render stays pure. */
  content: string;
}

/** What a pool's config says about detecting and recovering failed servers, and about persistence; shown next to the measured numbers. */
export interface PoolHealth {
  pool: string;
  /**
   * active checks: HAProxy `check` + `option httpchk` / `http-check send|expect`, Apache `hcmethod`/`hcuri`/
   * `ProxyHCExpr`, reference `health_check`. `method` defaults to what the proxy sends (HAProxy OPTIONS,
   * Apache/reference GET); `path` undefined = a TCP connect check (no HTTP request); `port` set when the
   * check goes to another port than the server's traffic port (HAProxy `port`, Apache `hcport`, as written);
   * `expectStatus` is what the config accepts (HAProxy `http-check expect status 200`, Apache
   * `ProxyHCExpr ok234 {%{REQUEST_STATUS} =~ /^[234]/}` = [200..499]); undefined = the proxy's default (2xx/3xx).
   */
  active?: {
    path?: string;
    method?: string;
    port?: number;
    expectStatus?: { min: number; max: number };
    intervalMs: number;
    fall: number;
    rise: number;
    /** where the check is configured. */
    at?: ConfigStatement;
  };
  /** passive ejection: nginx `max_fails`/`fail_timeout`, HAProxy `observe layer7` + `error-limit`. */
  passive?: { maxFails: number; failTimeoutMs: number };
  /** slow start of a recovered server (HAProxy `slowstart`). */
  slowstartMs?: number;
  /** sessions to a server marked down are cut (HAProxy `on-marked-down shutdown-sessions`). */
  shutdownSessions?: boolean;
  /** a retry may go to another server (HAProxy `option redispatch`, nginx `proxy_next_upstream`). */
  redispatch?: boolean;
  /**
   * cookie persistence (HAProxy `cookie NAME insert|rewrite|prefix [indirect] [nocache]`, Apache
   * `stickysession=NAME`, nginx `hash $cookie_NAME`, reference `sticky.cookie`): the cookie's name, whether
   * the LB sets it (`insert`) or only honours one the application sets, and whether it is hidden from the
   * backend (`indirect`).
   */
  cookie?: { name: string; mode: 'insert' | 'rewrite' | 'prefix' | 'honour'; indirect: boolean; at: ConfigStatement };
  /** the tunnel (WebSocket) idle timeout the pool's traffic gets (HAProxy `timeout tunnel`, nginx `proxy_read_timeout`, Apache `ProxyTimeout`/`timeout=`), in ms. */
  tunnelTimeoutMs?: number;
}

/** Where things go, decided by the runner. */
export interface RenderPlan {
  /** absolute run directory for this target; logs, pid files, temp dirs, sockets go under it. */
  runDir: string;
  /** upstream address as in UpstreamRef.address -> test backend "127.0.1.1:40123". */
  upstreams: ReadonlyMap<string, string>;
  /** original listen port -> free loopback port (listeners bind 127.0.0.1). */
  ports: ReadonlyMap<number, number>;
  /**
   * "address:port" as written -> free loopback port, for listeners that share a port with a listener
   * on another address (see ListenerRef.address); these take precedence over `ports`.
   */
  addressPorts?: ReadonlyMap<string, number>;
  /** TLS material issued by lbdrill's CA; every certificate/key path in the config is pointed here. */
  tls: { certFile: string; keyFile: string; /** cert + key in one PEM (HAProxy `crt`). */ pemFile: string };
  /**
   * Multiplies every health-check and failover duration in the config (intervals, check
   * timeouts, fail_timeout, slowstart) so a drill written for 5 s intervals runs in
   * seconds; budgets are scaled by the same factor. Default 1: unchanged.
   */
  timeScale?: number;
  /**
   * Where the target's runtime API must listen, when the run needs one: the HAProxy stats
   * socket path (an existing `stats socket` is pointed here, or a `global` section with
   * one is appended after the last line, so no line number moves).
   */
  runtimeSocket?: string;
  /** A free loopback port for the target's HTTP runtime API (the reference LB's admin API). */
  runtimePort?: number;
  /**
   * The open-file limit (RLIMIT_NOFILE) the proxy will start with (`childFdLimit()`); settings that
   * need more are lowered in place to fit (Mapping kind 'limit'). Undefined: left as written.
   */
  fdLimit?: number;
}

/** One thing lbdrill changed in the user's config, listed in the report. */
export interface Mapping {
  /** `limit`: a setting lowered to fit what this machine allows (HAProxy `maxconn`/`ulimit-n` over the open-file limit). */
  kind: 'upstream' | 'listen' | 'certificate' | 'path' | 'variable' | 'wrap' | 'dropped' | 'timing' | 'runtime-api' | 'limit';
  from: string;
  to: string;
  /** 1-based line in the source file, when the change is in it. */
  line?: number;
  /** absolute path of the included file the line is in, when it is not the source file itself. */
  file?: string;
  /** set when the change points the config at lbdrill's copy of a companion file; `to` is that copy's absolute path. */
  companion?: CompanionKind;
  /** `timing`: how much longer than the exact scaled value the proxy had to be given (whole seconds, a minimum), in ms. */
  lengthenedMs?: number;
}

/** Files written into the run directory; `main` is what the proxy is started with. */
export interface RenderedConfig {
  /** file name relative to runDir -> content; companion files are under `files/` (the caller creates the directory). */
  files: Record<string, string>;
  /** relative name of the file to pass to the proxy (-c / -f). */
  main: string;
  /** relative name of the rendered copy of the user's file, when it is not `main` (a wrapped fragment). */
  source?: string;
  /** relative names of further files the proxy is started with after `main` (HAProxy's second and later `-f`). */
  extraMains?: string[];
  /** relative name of each rendered copy of one of the user's further files (an included file, a later `-f`) -> that file's path, for the proxy's messages. */
  copiesOf?: Record<string, string>;
  mapped: Mapping[];
}

/**
 * A config dialect; throws LbdrillError(LBDRILL_ERR_CONFIG_PARSE, "file:line: ...") on syntax it cannot read.
 * `analyze` is the only step that touches the disk: it reads the companion files the config names
 * (LBDRILL_ERR_CONFIG_READ, "file:line: ..." when one is missing) into `ConfigAnalysis.files`.
 * `render` is pure text in, text out: it takes those contents from the analysis it is given and
 * returns them as run-directory files, with each path rewritten in place (Mapping kind 'path').
 */
export interface ConfigDialect {
  /** `further`: files the proxy reads after the source as one config (HAProxy's later `-f` files); a dialect without that notion ignores them. */
  analyze(source: string, sourcePath: string, further?: readonly SourceFile[]): ConfigAnalysis;
  render(source: string, sourcePath: string, analysis: ConfigAnalysis, plan: RenderPlan): RenderedConfig;
}
