import type { SiteBackend } from '../faults/fault.ts';
import type { DeployedBackendSpec } from './deployment.ts';
import type { HookRunner } from './hook-runner.ts';

/** A backend of a deployed pool: faults act on it through the operator's hook commands. */
export class DeployedBackend implements SiteBackend {
  readonly spec: DeployedBackendSpec;
  readonly #hooks: HookRunner;

  constructor(spec: DeployedBackendSpec, hooks: HookRunner) {
    this.spec = spec;
    this.#hooks = hooks;
  }

  get id(): string {
    return this.spec.name;
  }

  stop(): Promise<void> {
    return this.#hooks.run(this.spec, 'stop');
  }

  start(): Promise<void> {
    return this.#hooks.run(this.spec, 'start');
  }

  /** the `kill` hook (`docker kill`, `systemctl kill -s KILL`); `start` brings it back. */
  crash(): Promise<void> {
    return this.#hooks.run(this.spec, 'kill');
  }

  /** the `pause` / `unpause` hooks (`docker pause`, `kill -STOP`). */
  setHang(on: boolean): Promise<void> {
    return this.#hooks.run(this.spec, on ? 'pause' : 'unpause');
  }
}
