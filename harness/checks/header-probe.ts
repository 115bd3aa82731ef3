import type { RecordedRequest } from '../../fixtures/backend/index.ts';
import type { CheckContext } from './check.ts';

/** Sends one request to the app endpoint and returns what the backend recorded (undefined if nothing arrived). */
export async function probeBackendRequest(
  ctx: CheckContext,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ recorded: RecordedRequest | undefined; status: number | string }> {
  const id = ctx.nextId();
  const res = await ctx.client.send(ctx.app, { path, headers: ctx.tag(id, headers) });
  const recorded = res.status !== undefined ? await ctx.waitReceived(id, 2000) : ctx.received(id);
  return { recorded, status: res.status ?? res.error?.kind ?? 'no response' };
}

/** A request header as one string (node joins repeated X-Forwarded-For with ", "). */
export function headerValue(recorded: RecordedRequest, name: string): string | undefined {
  const value = recorded.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}
