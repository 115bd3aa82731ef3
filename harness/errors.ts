/** Stable error codes: callers match `code`, never the message. */
export type LbdrillErrorCode =
  | 'LBDRILL_ERR_USAGE'
  | 'LBDRILL_ERR_CONFIG_READ'
  | 'LBDRILL_ERR_CONFIG_PARSE'
  | 'LBDRILL_ERR_CONFIG_REJECTED'
  | 'LBDRILL_ERR_NO_UPSTREAMS'
  | 'LBDRILL_ERR_BINARY_MISSING'
  | 'LBDRILL_ERR_SCENARIO_INVALID'
  | 'LBDRILL_ERR_TARGET_START'
  | 'LBDRILL_ERR_TARGET_CRASHED'
  | 'LBDRILL_ERR_BACKEND'
  | 'LBDRILL_ERR_TIMEOUT'
  | 'LBDRILL_ERR_FAULT'
  | 'LBDRILL_ERR_RUNTIME_API'
  | 'LBDRILL_ERR_DEPLOYMENT_INVALID'
  | 'LBDRILL_ERR_HOOK_FAILED'
  | 'LBDRILL_ERR_REPORT_BUILD'
  | 'LBDRILL_ERR_INTERNAL';

/** Exit codes of the CLI: 0 every must-check passed, 1 a must-check failed, 2 lbdrill could not run. */
export const EXIT_OK = 0;
export const EXIT_CHECKS_FAILED = 1;
export const EXIT_CANNOT_RUN = 2;

const CANNOT_RUN: ReadonlySet<LbdrillErrorCode> = new Set([
  'LBDRILL_ERR_USAGE',
  'LBDRILL_ERR_CONFIG_READ',
  'LBDRILL_ERR_CONFIG_PARSE',
  'LBDRILL_ERR_CONFIG_REJECTED',
  'LBDRILL_ERR_NO_UPSTREAMS',
  'LBDRILL_ERR_BINARY_MISSING',
  'LBDRILL_ERR_SCENARIO_INVALID',
  'LBDRILL_ERR_TARGET_START',
  'LBDRILL_ERR_DEPLOYMENT_INVALID',
  // a deployment's hook command failed: the drill stopped, nothing about the LB was judged
  'LBDRILL_ERR_HOOK_FAILED',
  // a report tool (allure generate) failed on a finished run: nothing was judged
  'LBDRILL_ERR_REPORT_BUILD',
]);

/** An error lbdrill raises on purpose; `message` is one line meant for the user. */
export class LbdrillError extends Error {
  override readonly name = 'LbdrillError';
  readonly code: LbdrillErrorCode;

  constructor(code: LbdrillErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** True when this error means lbdrill could not run at all (exit 2). */
  get cannotRun(): boolean {
    return CANNOT_RUN.has(this.code);
  }
}

export function isLbdrillError(err: unknown, code?: LbdrillErrorCode): err is LbdrillError {
  return err instanceof LbdrillError && (code === undefined || err.code === code);
}
