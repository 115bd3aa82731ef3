/** The failover budgets checks wait on, with what each is when neither the profile nor --budget sets it (time scale 1). */
export const BUDGET_DEFAULTS_MS = {
  /** a killed server is out of rotation. */
  detect: 20_000,
  /** a restarted server serves again. */
  rejoin: 15_000,
  /** sessions on a server marked down are cut. */
  shutdown: 25_000,
  /** a drained server gets no new request. */
  drain: 1_000,
  /** a server answering errors is ejected on live traffic. */
  passive: 5_000,
  /** a recovered server's slow start. */
  ramp: 30_000,
  /** cut WebSocket clients are back and pinned again. */
  reconnect: 25_000,
} as const;

export type BudgetName = keyof typeof BUDGET_DEFAULTS_MS;
export const BUDGET_NAMES = Object.keys(BUDGET_DEFAULTS_MS) as BudgetName[];
