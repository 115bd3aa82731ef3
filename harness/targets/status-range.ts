/**
 * The statuses a health check accepts, as one range: what `PoolHealth.active.expectStatus` can carry.
 * A config states them as a regex (HAProxy `rstatus`, Apache `ProxyHCExpr ... =~ /.../`), a list
 * (HAProxy `status 200,204`) or classes (reference `expect_status: [2xx, 3xx]`); each is tested
 * against every status code, so a range is only claimed when the codes it accepts are one run.
 */

/** Every status code an HTTP response can carry (RFC 9110 §15: three digits, 1xx to 5xx). */
const FIRST_STATUS = 100;
const LAST_STATUS = 599;

/** The one contiguous range of codes `accepts` holds for, or null when it holds for none or for several runs. */
export function statusRange(accepts: (code: number) => boolean): { min: number; max: number } | null {
  let min: number | null = null;
  let max: number | null = null;
  for (let code = FIRST_STATUS; code <= LAST_STATUS; code++) {
    if (!accepts(code)) continue;
    if (max !== null && max !== code - 1) return null;
    min ??= code;
    max = code;
  }
  return min === null || max === null ? null : { min, max };
}
