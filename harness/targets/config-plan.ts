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
}

/** One listening socket as written (nginx `listen`, HAProxy `bind`, Apache `Listen`/`<VirtualHost>`). */
export interface ListenerRef {
  /** the listen spec as written ("443", "*:80", "[::]:443"). */
  spec: string;
  /** port number in the spec. */
  port: number;
  /** the socket speaks TLS (nginx `ssl`, HAProxy `ssl crt`, Apache `SSLEngine on`). */
  tls: boolean;
  /** host names configured for this listener (server_name / ServerName / ServerAlias); may be empty. */
  serverNames: string[];
  line: number;
}

/** What `analyze` found in a config. */
export interface ConfigAnalysis {
  upstreams: UpstreamRef[];
  listeners: ListenerRef[];
  /** the file is a fragment (nginx `server` blocks without `http`, an Apache vhost) and must be wrapped. */
  fragment: boolean;
}

/** Where things go, decided by the runner. */
export interface RenderPlan {
  /** absolute run directory for this target; logs, pid files, temp dirs, sockets go under it. */
  runDir: string;
  /** upstream address as in UpstreamRef.address -> test backend "127.0.1.1:40123". */
  upstreams: ReadonlyMap<string, string>;
  /** original listen port -> free loopback port (listeners bind 127.0.0.1). */
  ports: ReadonlyMap<number, number>;
  /** TLS material issued by lbdrill's CA; every certificate/key path in the config is pointed here. */
  tls: { certFile: string; keyFile: string; /** cert + key in one PEM (HAProxy `crt`). */ pemFile: string };
}

/** One thing lbdrill changed in the user's config, listed in the report. */
export interface Mapping {
  kind: 'upstream' | 'listen' | 'certificate' | 'path' | 'variable' | 'wrap' | 'dropped';
  from: string;
  to: string;
  /** 1-based line in the source file, when the change is in it. */
  line?: number;
}

/** Files written into the run directory; `main` is what the proxy is started with. */
export interface RenderedConfig {
  /** file name relative to runDir -> content. */
  files: Record<string, string>;
  /** relative name of the file to pass to the proxy (-c / -f). */
  main: string;
  /** relative name of the rendered copy of the user's file, when it is not `main` (a wrapped fragment). */
  source?: string;
  mapped: Mapping[];
}

/** A config dialect: pure text in, text out; throws LbdrillError(LBDRILL_ERR_CONFIG_PARSE, "file:line: ...") on syntax it cannot read. */
export interface ConfigDialect {
  analyze(source: string, sourcePath: string): ConfigAnalysis;
  render(source: string, sourcePath: string, analysis: ConfigAnalysis, plan: RenderPlan): RenderedConfig;
}
