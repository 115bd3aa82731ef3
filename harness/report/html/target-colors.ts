/** Each target keeps one colour in every chart; a deployed pool or any other name takes the next free one. */
const KNOWN: Record<string, string> = { nginx: '#2e8b57', haproxy: '#1f6fb4', apache: '#c0392b', reference: '#7d3c98' };
const OTHERS = ['#d68910', '#17a589', '#5d6d7e', '#a04000'];

export function targetColors(names: readonly string[]): Record<string, string> {
  let next = 0;
  return Object.fromEntries(names.map((n) => [n, KNOWN[n] ?? OTHERS[next++ % OTHERS.length]!]));
}
