/** Stable error codes of the reference LB: callers match `code`, never the message. */
export type LbErrorCode =
  | 'LB_ERR_CONFIG'
  | 'LB_ERR_CONFIG_READ'
  | 'LB_ERR_TLS'
  | 'LB_ERR_LISTEN'
  | 'LB_ERR_NO_SERVER_AVAILABLE'
  | 'LB_ERR_UPSTREAM_CONNECT'
  | 'LB_ERR_UPSTREAM_CONNECT_TIMEOUT'
  | 'LB_ERR_UPSTREAM_RESET'
  | 'LB_ERR_UPSTREAM_READ_TIMEOUT'
  | 'LB_ERR_UPSTREAM_PROTOCOL'
  | 'LB_ERR_UPSTREAM_STATUS'
  | 'LB_ERR_SESSION_SHUTDOWN'
  | 'LB_ERR_QUEUE_FULL'
  | 'LB_ERR_QUEUE_TIMEOUT'
  | 'LB_ERR_ADMIN_UNAUTHORIZED'
  | 'LB_ERR_ADMIN_NOT_FOUND'
  | 'LB_ERR_ADMIN_BAD_REQUEST'
  | 'LB_ERR_ADMIN_INTERNAL'
  | 'LB_ERR_BODY_TOO_LARGE'
  | 'LB_ERR_SPOOL';

/** An error the reference LB raises on purpose; `message` is one line meant for an operator. */
export class LbError extends Error {
  override readonly name = 'LbError';
  readonly code: LbErrorCode;

  constructor(code: LbErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function isLbError(err: unknown, code?: LbErrorCode): err is LbError {
  return err instanceof LbError && (code === undefined || err.code === code);
}
