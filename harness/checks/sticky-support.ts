import type { LbResponse } from '../client/lb-client.ts';

/** Value of cookie `name` in a response's Set-Cookie headers, or undefined. */
export function setCookieValue(res: Pick<LbResponse, 'headers'>, name: string): string | undefined {
  const raw = res.headers['set-cookie'];
  const lines = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  for (const line of lines) {
    const first = line.split(';', 1)[0] ?? '';
    const eq = first.indexOf('=');
    if (eq > 0 && first.slice(0, eq).trim() === name) return first.slice(eq + 1).trim();
  }
  return undefined;
}

/** Whether a Cookie header (as the backend received it) carries cookie `name`. */
export function cookieHeaderHas(header: string | string[] | undefined, name: string): boolean {
  const text = Array.isArray(header) ? header.join('; ') : (header ?? '');
  return text.split(';').some((part) => part.trim().startsWith(`${name}=`));
}

export function backendOf(res: Pick<LbResponse, 'headers'>): string | null {
  const b = res.headers['x-lbdrill-backend'];
  return typeof b === 'string' ? b : null;
}
