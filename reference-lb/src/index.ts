/** The reference load balancer: lbdrill's system under test written in TypeScript. */
export { configSchema, BALANCE_KINDS, RETRY_CONDITIONS, ON_MARKED_DOWN, STICKY_MODES, isLoopbackHost } from './config-schema.ts';
export type {
  LbConfig,
  LbConfigInput,
  ListenerConfig,
  RouteConfig,
  UpstreamConfig,
  ServerConfig,
  HealthCheckConfig,
  PassiveConfig,
  AdminConfig,
  StickyConfig,
  MapConfig,
  AuthConfig,
  RateLimitConfig,
  ResponseHeadersConfig,
  HeaderMatchConfig,
  BalanceKind,
  RetryCondition,
  OnMarkedDown,
} from './config-schema.ts';
export { parseConfig, formatConfigPath } from './parse-config.ts';
export { loadConfig } from './load-config.ts';
export { startLoadBalancer, createPools } from './start-load-balancer.ts';
export type { StartedLoadBalancer, StartOptions } from './start-load-balancer.ts';
export { runCli, errorLine, EXIT_OK, EXIT_CANNOT_START } from './run-cli.ts';
export type { CliIo } from './run-cli.ts';
export { LbError, isLbError } from './errors.ts';
export type { LbErrorCode } from './errors.ts';
export { toUpstreamError, upstreamErrorStatus, isRetryableUpstreamError, isRetryableStatus, retryPolicyFrom } from './upstream-errors.ts';
export type { RetryPolicy, RetryFacts } from './upstream-errors.ts';
export type { LbEvent, EventSink, ListenerInfo, AdminInfo, ReadyEvent, UpstreamErrorEvent, WorkerExitEvent, ServerStateEvent, MapUpdateEvent } from './events.ts';
export { UpstreamPool } from './upstream-pool.ts';
export type { FailureSink } from './upstream-pool.ts';
export { UpstreamServer, isMarkedDown } from './upstream-server.ts';
export type { ServerState, AdminState, ServerStatus, LiveSession, StateTransition } from './upstream-server.ts';
export { UpstreamMonitor } from './upstream-monitor.ts';
export type { UpstreamsView, ServerView, TrafficCounters, QueueCounters, ClusterCounters } from './upstream-monitor.ts';
export { UpstreamQueue, ALL_BUSY } from './upstream-queue.ts';
export type { QueuedRequest, AllBusy } from './upstream-queue.ts';
export { UpstreamMap, createMaps, parseMapFile, parseMapKey, mapKeyOf, MapFileError } from './upstream-map.ts';
export type { MapKey, MapView } from './upstream-map.ts';
export { MapRegistry } from './map-registry.ts';
export type { MapChange, MapSnapshot, MapChangeListener } from './map-registry.ts';
export { BasicAuth } from './basic-auth.ts';
export type { AuthenticatedUser, AuthUsers } from './basic-auth.ts';
export { PasswordHash, apr1Crypt, shaCryptHash } from './password-hash.ts';
export { parseHtpasswd } from './config-files.ts';
export { RateLimiter, REFUSE, parseRateLimitKey } from './rate-limiter.ts';
export { HeaderRules } from './header-rules.ts';
export { Router, proxyTarget, stripPathPrefix } from './router.ts';
export type { CompiledRoute, RouteAction, ProxyAction, RedirectAction, RespondAction, DenyAction, RouterOptions } from './router.ts';
export { ActiveHealthCheck, probeServer, compileExpectStatus } from './active-health-check.ts';
export type { CheckResult } from './active-health-check.ts';
export { startAdminApi } from './admin-api.ts';
export type { StartedAdminApi, AdminApiOptions } from './admin-api.ts';
export type { Balancer } from './balancers/balancer.ts';
export { WeightedRoundRobin } from './balancers/weighted-round-robin.ts';
export { LeastConnections } from './balancers/least-connections.ts';
export { ConsistentHash, HashRing, parseHashKey, VNODES_PER_WEIGHT } from './balancers/consistent-hash.ts';
export type { HashKey } from './balancers/consistent-hash.ts';
export { SourceHash } from './balancers/source-hash.ts';
export { hash32 } from './balancers/hash32.ts';
export { StickyCookie, takesPinned } from './sticky-cookie.ts';
export type { StickyServer } from './sticky-cookie.ts';
export { UpgradeExchange } from './upgrade-exchange.ts';
