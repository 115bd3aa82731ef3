const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses "500ms", "20s", "1.5s", "2m" into ms; undefined when the text is not a duration. */
export function parseDurationMs(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNITS_MS[m[2]!]!);
}

/** 1500 -> "1.5 s", 80 -> "80 ms". */
export function formatMs(ms: number): string {
  return ms >= 1000 ? `${Number((ms / 1000).toFixed(ms >= 10_000 ? 1 : 2))} s` : `${Math.round(ms)} ms`;
}
