import type { ZodError } from 'zod';

/** The first issue of a zod error as one line naming the field: `checks[3].id: unknown check "x"`. */
export function describeZodError(error: ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const path = issue.path.reduce<string>(
    (acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${part}` : String(part)),
    '',
  );
  return `${path || '(top level)'}: ${issue.message}`;
}
