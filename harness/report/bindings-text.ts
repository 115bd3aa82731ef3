import { relative } from 'node:path';
import { bindingSource, type Binding } from '../contracts/binding.ts';

/** One line per binding: "pool api_pool = be_api (2 primaries)   haproxy.cfg:41". */
export function bindingLines(bindings: readonly Binding[], relativeTo: (file: string) => string = (f) => relative(process.cwd(), f) || f): string[] {
  const width = Math.max(0, ...bindings.map((b) => b.what.length));
  return bindings.map((b) => {
    const source = b.from === 'config' && b.file !== undefined ? `${relativeTo(b.file)}${b.line !== undefined ? `:${b.line}` : ''}` : bindingSource(b);
    const extra = b.from === 'config' && b.detail ? ` (${b.detail})` : '';
    return `${b.what.padEnd(width)} = ${b.value}   ← ${source}${extra}`;
  });
}
