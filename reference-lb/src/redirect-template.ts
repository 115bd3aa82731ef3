/** Variables a redirect `location` template may use, written `{name}`. */
export const TEMPLATE_VARIABLES = [
  'scheme',
  'host',
  'http_host',
  'server_port',
  'request_uri',
  'path',
  'query',
  'is_args',
] as const;

/** One `{name}` a template refers to. */
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];

/** Values for one request; every field is raw, as the client sent it (never decoded). */
export interface TemplateValues {
  scheme: string;
  /** Host header without its port, lower-cased (nginx `$host`). */
  host: string;
  /** Host header exactly as sent, port included (nginx `$http_host`). */
  http_host: string;
  server_port: string;
  /** path plus `?query` exactly as sent (nginx `$request_uri`). */
  request_uri: string;
  path: string;
  /** query without the leading `?` (nginx `$args`). */
  query: string;
  /** `?` when the request has a query, else empty (nginx `$is_args`). */
  is_args: string;
}

const KNOWN: ReadonlySet<string> = new Set(TEMPLATE_VARIABLES);
const PLACEHOLDER = /\{([^{}]*)\}/g;

/** A redirect target compiled once at startup: literal text interleaved with variables. */
export class RedirectTemplate {
  /** Even indexes are literal text, odd indexes variable names. */
  private readonly parts: readonly string[];

  private constructor(parts: readonly string[]) {
    this.parts = parts;
  }

  /** Compiles `text`; throws a one-line message naming the first unknown variable. */
  static compile(text: string): RedirectTemplate {
    const parts: string[] = [];
    let last = 0;
    for (const m of text.matchAll(PLACEHOLDER)) {
      const name = m[1] ?? '';
      if (!KNOWN.has(name)) {
        throw new Error(`unknown variable {${name}} (known: ${TEMPLATE_VARIABLES.map((v) => `{${v}}`).join(', ')})`);
      }
      parts.push(text.slice(last, m.index), name);
      last = m.index + m[0].length;
    }
    parts.push(text.slice(last));
    return new RedirectTemplate(parts);
  }

  render(values: TemplateValues): string {
    let out = '';
    for (let i = 0; i < this.parts.length; i++) {
      const part = this.parts[i] as string;
      out += i % 2 === 0 ? part : values[part as TemplateVariable];
    }
    return out;
  }
}
