import type { ConfigAnalysis, ConfigDialect, RenderPlan, RenderedConfig } from './config-plan.ts';
import type { CommandRunner, LaunchSpec, LbProcess } from '../process/lb-process.ts';
import type { MapUpdater } from '../runtime/map-updater.ts';
import type { RuntimeApi } from '../runtime/runtime-api.ts';
import type { ServerRemover } from '../runtime/server-remover.ts';

/** The load balancers lbdrill can put under test. */
export const TARGET_NAMES = ['reference', 'nginx', 'haproxy', 'apache'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/**
 * A capability a check relies on. A target declares the ones it cannot express
 * (with the reason), so the check reports `unsupported` instead of a silent pass.
 */
export type Feature =
  | 'tls-termination'
  | 'prefix-rewrite'
  | 'redirect'
  | 'forwarded-headers'
  | 'deny-pattern'
  | 'streaming'
  | 'retry'
  | 'sticky-cookie'
  | 'active-health-checks'
  | 'passive-health-checks'
  | 'slowstart'
  | 'shutdown-sessions'
  | 'backup-servers'
  | 'websocket'
  | 'uri-hash'
  | 'source-hash'
  | 'rate-limit'
  | 'server-queue'
  | 'runtime-map'
  | 'runtime-api'
  /** lbdrill's own backends behind the LB: request records, connection counts, faults that change how they answer. */
  | 'own-backends';

/** A config rendered into its run directory, ready for the proxy's checker and start. */
export interface RenderedTarget {
  runDir: string;
  /** absolute path of the file the proxy is started with. */
  mainFile: string;
  /** absolute path of the user's (or bundled) file as given. */
  sourceFile: string;
  /** absolute path of the rendered copy of the source file (same lines as the source). */
  renderedSourceFile: string;
  analysis: ConfigAnalysis;
  rendered: RenderedConfig;
}

/** One kind of load balancer: how to find it, check a config and run it. */
export interface TargetKind {
  readonly name: TargetName;
  /** Debian package providing the binary; undefined for the built-in reference LB. */
  readonly aptPackage: string | undefined;
  /** file name of the bundled config in a profile's config directory. */
  readonly bundledConfigName: string;
  readonly dialect: ConfigDialect;
  /** features this target cannot express, with the reason shown to the user. */
  readonly unsupported: Readonly<Partial<Record<Feature, string>>>;
  /** the config path may name several files read as one config: a comma list or a directory of `*.cfg` (HAProxy's `-f`). */
  readonly severalConfigFiles?: boolean;
  /** where the rendered config puts the LB's runtime API in `runDir` (HAProxy's stats socket, the reference LB's admin port). */
  runtimeEndpoint?(runDir: string): Promise<Pick<RenderPlan, 'runtimeSocket' | 'runtimePort'>>;
  /** directories the proxy writes to under its run dir (temp paths), created world-writable before start. */
  workDirs?(runDir: string): string[];
  /** "nginx/1.22.1", or undefined when the binary is not installed (`run`: where to ask, default this machine). */
  version(run?: CommandRunner): Promise<string | undefined>;
  /** Runs the proxy's own config checker (`run`: where, default this machine); throws LBDRILL_ERR_CONFIG_REJECTED with its message. */
  validate(target: RenderedTarget, run?: CommandRunner): Promise<void>;
  /** The proxy's foreground command line for this rendered config. */
  launch(target: RenderedTarget): LaunchSpec;
  /** Starts the proxy in the foreground: a child of lbdrill, or a container under --runtime container. */
  spawn(target: RenderedTarget): LbProcess;
  /** The LB's runtime API (state events, drain), when the target has one; reads the started process's output. */
  runtime?(process: LbProcess, target: RenderedTarget): RuntimeApi | undefined;
  /**
   * Changes the node map at run time the way an operator's map updater does on this LB; `map` is
   * the map as the profile names it for this target (the file path as the config writes it, or the
   * reference LB's map name). Undefined when the config does not name that map.
   */
  mapUpdater?(map: string, started: { process: LbProcess; target: RenderedTarget; runtime: RuntimeApi | undefined }): MapUpdater | undefined;
  /**
   * Takes servers out of the running config the way an operator scales a pool down, for targets
   * without a runtime API (nginx: the server line leaves the config, then a graceful reload).
   */
  serverRemover?(started: { process: LbProcess; target: RenderedTarget }): ServerRemover | undefined;
  /** Resolves once the process is ready to serve (default: every mapped port accepts). */
  waitReady?(process: LbProcess, target: RenderedTarget): Promise<void>;
}
