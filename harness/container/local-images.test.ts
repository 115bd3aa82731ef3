import { describe, expect, it } from 'vitest';
import { TARGET_NAMES } from '../targets/target-kind.ts';
import { defaultImage, localImage, LOCAL_IMAGES, podmanHasImage } from './local-images.ts';

describe('local images', () => {
  it('give every target a default image lbdrill knows how to build; the reference LB runs on the node image', () => {
    expect(TARGET_NAMES.map((t) => defaultImage(t))).toEqual(['lbdrill/node:bookworm', 'lbdrill/nginx:bookworm', 'lbdrill/haproxy:bookworm', 'lbdrill/apache:bookworm']);
    for (const t of TARGET_NAMES) expect(localImage(defaultImage(t))).toBeDefined();
    expect(localImage('haproxy:2.8')).toBeUndefined();
    expect(LOCAL_IMAGES.node.context).toEqual({ node: process.execPath });
  });

  it("podmanHasImage asks podman's own store (real podman)", async () => {
    expect(await podmanHasImage('lbdrill/no-such-image:none')).toBe(false);
  });
});
