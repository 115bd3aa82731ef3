/** Markup that is already escaped: `html` inserts it as is. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Interpolated = SafeHtml | string | number | null | undefined | readonly Interpolated[];

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for an element's content or a quoted attribute value. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

function insert(value: Interpolated): string {
  if (value === null || value === undefined) return '';
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(insert).join('');
  return escapeHtml(String(value));
}

/**
 * Template tag for the report's markup: every interpolated value is escaped unless it is
 * SafeHtml (the result of another `html`), so evidence text from a config or a backend
 * (`<script>` in a header value) stays text.
 */
export function html(strings: TemplateStringsArray, ...values: Interpolated[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((v, i) => (out += insert(v) + strings[i + 1]!));
  return new SafeHtml(out);
}

/**
 * JSON inside a <script> element: `<` escaped so that no string in the data (a backend's
 * answer, a log line) can close the element (HTML §4.12.1.3, restrictions for contents of script elements).
 */
export function scriptJson(value: unknown): SafeHtml {
  return new SafeHtml(JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029'));
}
