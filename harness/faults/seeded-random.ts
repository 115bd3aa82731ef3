/**
 * A deterministic generator of floats in [0, 1): the same parts always give the same
 * sequence, so a rerun with the same seed makes the same random choices.
 * FNV-1a over the parts, then mulberry32 (fast, 32-bit state; plenty for fault decisions).
 */
export function seededRandom(...parts: ReadonlyArray<number | string>): () => number {
  let hash = 0x811c9dc5;
  for (const part of parts) {
    // The separator keeps ("1", "23") apart from ("12", "3").
    for (const ch of `${String(part)}\u0000`) {
      hash ^= ch.codePointAt(0) ?? 0;
      hash = Math.imul(hash, 0x01000193);
    }
  }
  let state = hash >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
