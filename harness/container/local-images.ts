import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LbdrillError } from '../errors.ts';
import { REPO_ROOT } from '../paths.ts';
import { trackDisposer } from '../process/cleanup.ts';
import { ManagedProcess } from '../process/managed-process.ts';
import { runCommand, runCommandSync } from '../netns/system-command.ts';
import type { TargetName } from '../targets/target-kind.ts';
import { podmanEnv } from './container-engine.ts';

/** The Debian 12 root filesystem every local image starts from (debootstrap --variant=minbase, podman import). */
export const BASE_IMAGE = 'lbdrill/bookworm-base';
const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
const IMAGES_DIR = join(REPO_ROOT, 'harness', 'container', 'images');
/** debootstrap downloads and unpacks about 80 packages: 50 s here, far less than this. */
const BUILD_TIMEOUT_MS = 15 * 60_000;

/** An image lbdrill builds from a Containerfile in harness/container/images/. */
export interface LocalImage {
  /** "lbdrill/nginx:bookworm". */
  name: string;
  containerfile: string;
  /** files copied into the build context besides the Containerfile (the node image's binary). */
  context?: Record<string, string>;
}

/** The images `lbdrill images build` makes, by what they hold; `node` also runs lbdrill's backends in the compose topology. */
export const LOCAL_IMAGES: Readonly<Record<'nginx' | 'haproxy' | 'apache' | 'node', LocalImage>> = {
  nginx: { name: 'lbdrill/nginx:bookworm', containerfile: join(IMAGES_DIR, 'nginx.Containerfile') },
  haproxy: { name: 'lbdrill/haproxy:bookworm', containerfile: join(IMAGES_DIR, 'haproxy.Containerfile') },
  apache: { name: 'lbdrill/apache:bookworm', containerfile: join(IMAGES_DIR, 'apache.Containerfile') },
  node: { name: 'lbdrill/node:bookworm', containerfile: join(IMAGES_DIR, 'node.Containerfile'), context: { node: process.execPath } },
};

/** The image a target runs in unless --image says otherwise: the reference LB runs on the node image. */
export function defaultImage(target: TargetName): string {
  return LOCAL_IMAGES[target === 'reference' ? 'node' : target].name;
}

/** The local image spec for `name`, when it is one lbdrill builds. */
export function localImage(name: string): LocalImage | undefined {
  return Object.values(LOCAL_IMAGES).find((image) => image.name === name);
}

/** Whether podman's local store holds `name` (short names resolve to localhost/). */
export async function podmanHasImage(name: string): Promise<boolean> {
  return (await runCommand('podman', ['image', 'exists', name])).code === 0;
}

/** One line per step of a build: "lbdrill/nginx:bookworm: building..." and "... built in 41.2 s". */
export type BuildProgress = (line: string) => void;

/**
 * Builds what is missing of the base and `images` (all four by default), or everything with
 * `force`. Each build runs podman with the repo's containers.conf; a failure throws
 * LBDRILL_ERR_INTERNAL with the last lines the build printed.
 */
export async function buildLocalImages(options: { force?: boolean; images?: readonly LocalImage[]; onProgress: BuildProgress }): Promise<void> {
  const images = options.images ?? Object.values(LOCAL_IMAGES);
  const needed: LocalImage[] = [];
  for (const image of images) if (options.force || !(await podmanHasImage(image.name))) needed.push(image);
  for (const image of images.filter((i) => !needed.includes(i))) options.onProgress(`${image.name}: present (--force rebuilds it)`);
  if (needed.length === 0) return;
  if (options.force || !(await podmanHasImage(BASE_IMAGE))) await timed(BASE_IMAGE, 'debootstrap --variant=minbase bookworm, podman import', options.onProgress, buildBase);
  else options.onProgress(`${BASE_IMAGE}: present`);
  for (const image of needed) await timed(image.name, `podman build -f ${join('harness', 'container', 'images', image.containerfile.split('/').pop()!)}`, options.onProgress, () => buildImage(image));
}

async function timed(name: string, how: string, onProgress: BuildProgress, build: () => Promise<void>): Promise<void> {
  onProgress(`${name}: building (${how})...`);
  const t0 = performance.now();
  await build();
  onProgress(`${name}: built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

/** Runs a build step to its end; throws with its last lines when it fails. */
async function step(label: string, command: string, args: string[], cwd?: string): Promise<void> {
  const child = new ManagedProcess({ command, args, label, env: podmanEnv(), ...(cwd ? { cwd } : {}) });
  const timer = setTimeout(() => void child.stop(), BUILD_TIMEOUT_MS);
  await child.exited();
  clearTimeout(timer);
  await child.stop();
  if (child.exitCode !== 0) throw new LbdrillError('LBDRILL_ERR_INTERNAL', `${label} failed (code ${child.exitCode}, signal ${child.exitSignal}): ${child.tail(5).join(' | ')}`);
}

/** debootstrap into a temp dir (mounts undone, dir removed on every exit path), then `tar | podman import`. */
async function buildBase(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'lbdrill-rootfs-'));
  const undo = async (): Promise<void> => {
    unmountUnder(dir);
    await rm(dir, { recursive: true, force: true });
  };
  const untrack = trackDisposer(undo);
  try {
    await step('debootstrap', 'debootstrap', ['--variant=minbase', 'bookworm', join(dir, 'root'), DEBIAN_MIRROR]);
    await step('podman import', 'sh', ['-c', 'tar -C "$1" -c . | podman import - "$2"', 'sh', join(dir, 'root'), BASE_IMAGE]);
  } finally {
    untrack();
    await undo();
  }
}

async function buildImage(image: LocalImage): Promise<void> {
  const context = await mkdtemp(join(tmpdir(), 'lbdrill-image-'));
  const untrack = trackDisposer(() => rm(context, { recursive: true, force: true }));
  try {
    for (const [name, from] of Object.entries(image.context ?? {})) await copyFile(from, join(context, name));
    await step(`podman build ${image.name}`, 'podman', ['build', '--quiet', '--tag', image.name, '--file', image.containerfile, context]);
  } finally {
    untrack();
    await rm(context, { recursive: true, force: true });
  }
}

/** A debootstrap stopped half way leaves proc and sys mounted in its target: those go before the tree does. */
function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(`${dir}/`));
  for (const mount of mounts.sort().reverse()) runCommandSync('umount', ['-l', mount]);
}

