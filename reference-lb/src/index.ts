/** The reference load balancer: lbdrill's system under test written in TypeScript. */
export { configSchema, BALANCE_KINDS } from './config-schema.ts';
export type { LbConfig, LbConfigInput, ListenerConfig, RouteConfig, UpstreamConfig, BalanceKind } from './config-schema.ts';
export { parseConfig, formatConfigPath } from './parse-config.ts';
export { loadConfig } from './load-config.ts';
export { startLoadBalancer } from './start-load-balancer.ts';
export type { StartedLoadBalancer, StartOptions } from './start-load-balancer.ts';
export { runCli, errorLine, EXIT_OK, EXIT_CANNOT_START } from './run-cli.ts';
export type { CliIo } from './run-cli.ts';
export { LbError, isLbError } from './errors.ts';
export type { LbErrorCode } from './errors.ts';
export { toUpstreamError, upstreamErrorStatus, isRetryableUpstreamError } from './upstream-errors.ts';
export type { LbEvent, EventSink, ListenerInfo, ReadyEvent, UpstreamErrorEvent, WorkerExitEvent } from './events.ts';
export { UpstreamPool } from './upstream-pool.ts';
export { UpstreamServer } from './upstream-server.ts';
export type { ServerState } from './upstream-server.ts';
export type { Balancer } from './balancers/balancer.ts';
export { RoundRobin } from './balancers/round-robin.ts';
