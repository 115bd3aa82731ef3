import type { Dispatcher } from 'undici';
import { formatMs } from '../duration.ts';
import { nowMs } from '../probe/probe-stream.ts';
import { budgetMs, fail, pass, type Check, type CheckContext } from './check.ts';
import { failoverPool, steadyProbe, waitLbState } from './failover-sequence.ts';

/** Long-lived responses on the victim before the fault (and at most this many opened in all to get them). */
const SESSIONS_ON_VICTIM = 2;
const MAX_SESSIONS = 12;
/** First chunk of each long-lived response: enough to prove the session is live. */
const FIRST_CHUNK_BYTES = 1024;

interface Session {
  backend: string;
  endedAtMs?: number;
  how?: string;
  response: Dispatcher.ResponseData;
}

async function openSession(ctx: CheckContext, path: string, pauseMs: number): Promise<Session> {
  const response = await ctx.client.open(ctx.app, {
    path,
    timeoutMs: pauseMs * 2,
    headers: ctx.tag(ctx.nextId(), { 'x-lbdrill-first-chunk': String(FIRST_CHUNK_BYTES), 'x-lbdrill-pause-ms': String(pauseMs), 'x-lbdrill-rest': '1024' }),
  });
  const backend = response.headers['x-lbdrill-backend'];
  const session: Session = { backend: typeof backend === 'string' ? backend : '?', response };
  response.body.on('data', () => {});
  response.body.on('end', () => {
    session.endedAtMs ??= nowMs();
    session.how ??= 'ended';
  });
  response.body.on('error', (err: Error & { code?: string }) => {
    session.endedAtMs ??= nowMs();
    session.how ??= err.code ?? err.message;
  });
  return session;
}

/**
 * `on-marked-down shutdown-sessions`: a server that fails its health checks while still
 * alive (health_fail) is marked down, and every session it still holds is cut. Without
 * it the long-lived session keeps streaming from a server the LB calls dead.
 */
export const failoverShutdownSessions: Check = {
  id: 'failover.shutdown-sessions',
  title: 'sessions of a server marked down are cut',
  severity: 'must',
  needs: ['active-health-checks', 'shutdown-sessions', 'own-backends'],
  needsPool: true,
  disruptive: true,
  async run(ctx) {
    const budget = budgetMs(ctx, 'shutdown');
    const expected = `a long-lived response from a server that fails its health checks (still alive) is cut within ${formatMs(budget)} of the fault; sessions on healthy servers go on`;
    const { pool, victim } = failoverPool(ctx);
    // The session must outlive the budget by far so only the LB can end it.
    const pauseMs = Math.max(30_000, budget * 4);
    const sessions: Session[] = [];
    try {
      await (await steadyProbe(ctx, pool)).stop();
      for (let i = 0; i < MAX_SESSIONS && sessions.filter((x) => x.backend === victim.backend.id).length < SESSIONS_ON_VICTIM; i++) {
        sessions.push(await openSession(ctx, `${pool.probePath}?lbdrill-session=${i}`, pauseMs));
      }
      const onVictim = sessions.filter((s) => s.backend === victim.backend.id);
      const elsewhere = sessions.filter((s) => s.backend !== victim.backend.id);
      if (onVictim.length === 0) return fail(expected, `none of ${sessions.length} sessions landed on ${victim.backend.id} (on: ${sessions.map((s) => s.backend).join(', ')})`);
      const faultAtMs = nowMs();
      await ctx.faults.apply({ type: 'health_fail' }, ctx.site(victim));
      ctx.progress(`${victim.backend.id} fails its health checks; ${onVictim.length} sessions on it`);
      const downAfterMs = await waitLbState(ctx, pool, victim, 'down', faultAtMs, budget);
      // Sessions are cut right after the DOWN transition; give the LB one more second at most.
      const deadline = faultAtMs + budget;
      while (nowMs() < deadline && onVictim.some((s) => s.endedAtMs === undefined)) await new Promise((r) => setTimeout(r, 20));
      const cut = onVictim.filter((s) => s.endedAtMs !== undefined && s.endedAtMs <= deadline);
      const evidence = {
        victim: victim.backend.id,
        lbDownAfterMs: downAfterMs === undefined ? null : Math.round(downAfterMs),
        sessions: sessions.map((s) => ({ backend: s.backend, endedAfterMs: s.endedAtMs === undefined ? null : Math.round(s.endedAtMs - faultAtMs), how: s.how ?? 'still open' })),
        budgetMs: budget,
        budgetSource: ctx.failover.budgetSources['shutdown'] ?? 'default',
      };
      const down = downAfterMs === undefined ? 'the LB did not report it DOWN' : `the LB marked it DOWN after ${formatMs(downAfterMs)}`;
      const healthyCut = elsewhere.filter((s) => s.endedAtMs !== undefined);
      if (cut.length === onVictim.length && healthyCut.length === 0) {
        const slowest = Math.max(...cut.map((s) => s.endedAtMs! - faultAtMs));
        return pass(expected, `${down}; all ${cut.length} sessions on it cut by ${formatMs(slowest)}, ${elsewhere.length} on healthy servers still open`, evidence);
      }
      if (healthyCut.length > 0) return fail(expected, `${healthyCut.length} sessions on healthy servers were cut too`, evidence);
      return fail(expected, `${down}, but ${onVictim.length - cut.length} of ${onVictim.length} sessions on it were still streaming ${formatMs(budget)} after the fault`, evidence);
    } finally {
      for (const s of sessions) s.response.body.destroy();
    }
  },
};
