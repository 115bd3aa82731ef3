import type { ResponseHeadersConfig } from './config-schema.ts';

/** One `response_headers` block: names to remove (set names included), then fields to append. */
interface Step {
  /** Lower-cased names removed first: `remove` plus every `set` name. */
  drop: ReadonlySet<string>;
  /** [name, value, ...] appended afterwards: `set` then `add`. */
  append: readonly string[];
}

/**
 * Response header rules (`response_headers: { set, add, remove }`), applied in place to a
 * raw header list [name, value, ...] on its way to the client: for each block in order
 * (the listener's, then the route's) `remove` drops every field of those names, `set`
 * replaces all fields of a name with one (HAProxy `http-response set-header`), `add`
 * appends one more (nginx `add_header`, HAProxy `add-header`). Names match case-insensitively.
 */
export class HeaderRules {
  private readonly steps: readonly Step[];

  private constructor(steps: readonly Step[]) {
    this.steps = steps;
  }

  /** `base`'s steps followed by `config`'s; undefined when there is nothing to do. */
  static compile(config: ResponseHeadersConfig | undefined, base?: HeaderRules): HeaderRules | undefined {
    if (config === undefined) return base;
    const drop = new Set<string>(config.remove.map((n) => n.toLowerCase()));
    const append: string[] = [];
    for (const [name, value] of Object.entries(config.set)) {
      drop.add(name.toLowerCase());
      append.push(name, value);
    }
    for (const [name, value] of Object.entries(config.add)) {
      for (const v of Array.isArray(value) ? value : [value]) append.push(name, v);
    }
    if (drop.size === 0 && append.length === 0) return base;
    return new HeaderRules([...(base?.steps ?? []), { drop, append }]);
  }

  /** Edits `headers` ([name, value, ...]) in place. */
  apply(headers: string[]): void {
    for (const { drop, append } of this.steps) {
      if (drop.size > 0) {
        let w = 0;
        for (let r = 0; r < headers.length; r += 2) {
          if (drop.has((headers[r] as string).toLowerCase())) continue;
          headers[w] = headers[r] as string;
          headers[w + 1] = headers[r + 1] as string;
          w += 2;
        }
        headers.length = w;
      }
      for (const field of append) headers.push(field);
    }
  }
}
