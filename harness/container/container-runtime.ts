import { join } from 'node:path';
import { ImageName } from 'testcontainers';
import { LbdrillError } from '../errors.ts';
import type { CommandRunner } from '../process/lb-process.ts';
import type { TargetKind, TargetName } from '../targets/target-kind.ts';
import { ContainerEngine } from './container-engine.ts';
import { LABEL_RUN, runEnded } from './container-labels.ts';
import { ContainerProcess, runInContainer, type ContainerLaunch } from './container-process.ts';
import { buildLocalImages, defaultImage, localImage } from './local-images.ts';

/** A registry that does not answer gives up long before this. */
const PULL_TIMEOUT_MS = 120_000;

/** `--image NAME=IMAGE` overrides, by target. */
export type ImageOverrides = Partial<Record<TargetName, string>>;

/**
 * `--runtime container` for one run: the engine, the image of each target, and TargetKinds whose
 * version, config check and LB run in that image. Started with a sweep of containers left by
 * lbdrill runs that died without cleaning up; disposing it stops lbdrill's own Podman service.
 */
export class ContainerRuntime implements AsyncDisposable {
  readonly engine: ContainerEngine;
  readonly #images: ImageOverrides;
  readonly #onMessage: (line: string) => void;
  /** how long making sure of each target's image took (a build when it was missing). */
  readonly #imageCheckMs = new Map<TargetName, Promise<number>>();
  readonly #imageCheckDone = new Map<TargetName, number>();

  private constructor(engine: ContainerEngine, images: ImageOverrides, onMessage: (line: string) => void) {
    this.engine = engine;
    this.#images = images;
    this.#onMessage = onMessage;
  }

  static async start(options: { images?: ImageOverrides; onMessage: (line: string) => void }): Promise<ContainerRuntime> {
    const engine = await ContainerEngine.start();
    options.onMessage(`containers: ${engine.description}${engine.startMs > 0 ? `, up in ${engine.startMs} ms` : ''}`);
    const runtime = new ContainerRuntime(engine, options.images ?? {}, options.onMessage);
    try {
      await runtime.#sweep();
    } catch (err) {
      await engine[Symbol.asyncDispose]();
      throw err;
    }
    return runtime;
  }

  /** The image `target` runs in: --image, else lbdrill's local one. */
  image(target: TargetName): string {
    return this.#images[target] ?? defaultImage(target);
  }

  /** Removes containers whose lbdrill run has ended (SIGKILL, OOM, power cut), and says so. */
  async #sweep(): Promise<void> {
    const listed = await this.engine.client.container.dockerode.listContainers({ all: true, filters: { label: [LABEL_RUN] } });
    const stale = listed.filter((c) => runEnded(c.Labels));
    for (const c of stale) {
      await this.engine.client.container.getById(c.Id).remove({ force: true });
      this.#onMessage(`containers: removed ${c.Names.map((n) => n.replace(/^\//, '')).join(', ')} (${c.State}), left by lbdrill run ${c.Labels[LABEL_RUN]} which is gone`);
    }
  }

  /** Makes sure `target`'s image is here: a missing local image is built (saying so), any other is pulled; LBDRILL_ERR_USAGE in one line when neither works. */
  ensureImage(target: TargetName): Promise<number> {
    let pending = this.#imageCheckMs.get(target);
    if (pending === undefined) {
      pending = this.#ensure(this.image(target)).then((ms) => {
        this.#imageCheckDone.set(target, ms);
        return ms;
      });
      this.#imageCheckMs.set(target, pending);
    }
    return pending;
  }

  async #ensure(image: string): Promise<number> {
    const t0 = performance.now();
    const name = ImageName.fromString(image);
    if (await this.engine.client.image.exists(name)) return Math.round(performance.now() - t0);
    const local = localImage(image);
    if (local !== undefined) {
      this.#onMessage(`containers: ${image} is missing, building it first (lbdrill images build)`);
      await buildLocalImages({ images: [local], onProgress: (line) => this.#onMessage(`containers: ${line}`) });
      if (!(await this.engine.client.image.exists(name))) {
        throw new LbdrillError('LBDRILL_ERR_USAGE', `${image} was built with podman, but ${this.engine.description} does not see podman's images: load it there (podman save ${image} | docker load) or give --image`);
      }
    } else {
      this.#onMessage(`containers: ${image} is not here, pulling it`);
      const problem = await this.#pull(image);
      if (!(await this.engine.client.image.exists(name))) {
        throw new LbdrillError('LBDRILL_ERR_USAGE', `--image ${image}: not on this machine and could not be pulled (${problem ?? 'the engine gave no reason'}) (load or build it first; lbdrill images build makes the lbdrill/<target>:bookworm images)`);
      }
    }
    return Math.round(performance.now() - t0);
  }

  /** Pulls through the engine; the error the registry gave, if any (the Docker API reports it inside a 200 stream). */
  async #pull(image: string): Promise<string | undefined> {
    try {
      const stream = (await this.engine.client.container.dockerode.pull(image)) as NodeJS.ReadableStream;
      let text = '';
      const timer = setTimeout(() => (stream as unknown as { destroy(): void }).destroy(), PULL_TIMEOUT_MS);
      for await (const chunk of stream) text += String(chunk);
      clearTimeout(timer);
      const errors = text.split('\n').flatMap((line) => {
        try {
          const parsed = JSON.parse(line) as { error?: string };
          return parsed.error ? [parsed.error] : [];
        } catch {
          return [];
        }
      });
      return errors.at(-1)?.replace(/\s+/g, ' ');
    } catch (err) {
      return (err as Error).message.split('\n')[0];
    }
  }

  /** A one-shot container of `target`'s image with `mounts`, as a CommandRunner for the target's checker and `-v`. */
  #runner(kind: TargetKind, mounts: ContainerLaunch['mounts']): CommandRunner {
    return (command, args, options = {}) =>
      runInContainer(this.engine, {
        image: this.image(kind.name),
        target: kind.name,
        launch: { command, args, label: kind.name, ...(options.env ? { env: options.env } : {}), ...(options.cwd !== undefined ? { cwd: options.cwd } : {}) },
        mounts,
      });
  }

  /** `kind` with its version, config check and LB run in its image; everything else (rendering, runtime views) as native. */
  target(kind: TargetKind): TargetKind {
    return {
      ...kind,
      version: async () => {
        await this.ensureImage(kind.name);
        return kind.version(this.#runner(kind, []));
      },
      validate: async (target) => {
        await this.ensureImage(kind.name);
        const launch = kind.launch(target);
        return kind.validate(target, this.#runner(kind, [{ path: target.runDir, readOnly: false }, ...(launch.mounts ?? [])]));
      },
      spawn: (target) => {
        return new ContainerProcess(
          this.engine,
          { image: this.image(kind.name), target: kind.name, launch: kind.launch(target), mounts: [{ path: target.runDir, readOnly: false }] },
          { logFile: join(target.runDir, 'process.log'), imageCheckMs: this.#imageCheckDone.get(kind.name) ?? 0 },
        );
      },
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.engine[Symbol.asyncDispose]();
  }
}
