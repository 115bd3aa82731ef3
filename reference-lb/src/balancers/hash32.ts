/**
 * A fast 32-bit string hash for the hash balancers: FNV-1a over the UTF-16 code units of
 * `text[start, end)`, then MurmurHash3's fmix32 finalizer. FNV-1a alone mixes poorly in
 * the high bits for keys that differ only at the end (`/track/41`, `/track/42`), which
 * would cluster them on a ring; fmix32 gives every input bit an even chance to flip every
 * output bit. It hashes a range so callers need not slice (no allocation).
 */
export function hash32(text: string, start = 0, end = text.length): number {
  let h = 0x811c9dc5; // FNV-1a 32-bit offset basis
  for (let i = start; i < end; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193); // FNV prime 16777619
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
