import { describe, expect, it } from 'vitest';
import { measureFailover, samplesCsv, sharesByWindow } from './failover-timeline.ts';
import type { ProbeSample } from './probe-stream.ts';

/** 100 req/s for 3 s, alternating a/b; `b` dies at 1000 ms (errors until 1200 ms, then only `a`), restarts at 2000 ms, serves again from 2300 ms. */
function drill(): ProbeSample[] {
  const samples: ProbeSample[] = [];
  for (let seq = 0; seq < 300; seq++) {
    const t = seq * 10;
    const wantB = seq % 2 === 1;
    let backend: string | null = wantB ? 'b' : 'a';
    let status: number | null = 200;
    let error: ProbeSample['error'] = null;
    if (wantB && t >= 1000 && t < 1200) [backend, status, error] = [null, null, 'reset'];
    else if (wantB && t >= 1200 && t < 2300) backend = 'a';
    samples.push({ seq, sentAtMs: t, latencyMs: 1, backend, status, error });
  }
  return samples;
}

describe('measureFailover', () => {
  it('times detection from traffic when the LB reports nothing', () => {
    const m = measureFailover({ samples: drill(), victim: 'b', pool: 'p', serverName: 'b', faultAtMs: 1000, undoAtMs: 2000, resolutionMs: 10 });
    expect(m.detectSource).toBe('traffic');
    // last error sent at 1190 ms, plus one resolution step
    expect(m.detectMs).toBe(200);
    expect(m.clientErrors).toBe(10);
    expect(m.errorsByKind).toEqual({ reset: 10 });
    expect(m.firstErrorMs).toBe(10);
    expect(m.lastErrorMs).toBe(190);
    expect(m.errorsAfterDetect).toBe(0);
    expect(m.rejoinMs).toBe(310);
  });

  it('without an LB report, counts errors later than the detect budget (the last error cannot define detection then)', () => {
    const within = measureFailover({ samples: drill(), victim: 'b', pool: 'p', serverName: 'b', faultAtMs: 1000, undoAtMs: 2000, resolutionMs: 10, detectBudgetMs: 500 });
    expect(within.errorsAfterDetect).toBe(0);
    // a budget of 100 ms: errors sent after 1110 ms count (1130, 1150, 1170, 1190)
    const late = measureFailover({ samples: drill(), victim: 'b', pool: 'p', serverName: 'b', faultAtMs: 1000, undoAtMs: 2000, resolutionMs: 10, detectBudgetMs: 100 });
    expect(late.detectMs).toBe(200);
    expect(late.errorsAfterDetect).toBe(4);
  });

  it("prefers the LB's own DOWN and UP reports and counts errors after them", () => {
    const m = measureFailover({
      samples: drill(),
      victim: 'b',
      pool: 'p',
      serverName: 'srv-b',
      faultAtMs: 1000,
      undoAtMs: 2000,
      resolutionMs: 10,
      lbEvents: [
        { atMs: 1100, pool: 'p', server: 'srv-b', state: 'down', reason: 'L4CON' },
        { atMs: 1150, pool: 'other', server: 'srv-b', state: 'up', reason: '' },
        { atMs: 2250, pool: 'p', server: 'srv-b', state: 'up', reason: 'L7OK' },
      ],
    });
    expect(m.detectSource).toBe('lb-event');
    expect(m.detectMs).toBe(100);
    expect(m.lbDownMs).toBe(100);
    // errors sent after 1110 ms: 1130, 1150, 1170, 1190
    expect(m.errorsAfterDetect).toBe(4);
    expect(m.lbUpMs).toBe(250);
  });

  it('reports a victim that never comes back as null', () => {
    const samples = drill().map((s) => (s.backend === 'b' && s.sentAtMs >= 2000 ? { ...s, backend: 'a' } : s));
    const m = measureFailover({ samples, victim: 'b', pool: 'p', serverName: 'b', faultAtMs: 1000, undoAtMs: 2000, resolutionMs: 10 });
    expect(m.rejoinMs).toBeNull();
  });
});

describe('sharesByWindow', () => {
  it('counts requests per backend in whole windows', () => {
    const w = sharesByWindow(drill(), 2000, 3000, 250);
    expect(w.map((x) => x.total)).toEqual([25, 25, 25, 25]);
    expect(w[0]!.byBackend).toEqual({ a: 25 });
    expect(w[3]!.byBackend).toEqual({ a: 12, b: 13 });
  });
});

describe('samplesCsv', () => {
  it('writes one row per request with times from the origin', () => {
    const csv = samplesCsv(drill().slice(100, 102), 1000);
    expect(csv).toBe('seq,sent_ms,latency_ms,backend,status,error\n100,0.0,1.00,a,200,\n101,10.0,1.00,,,reset\n');
  });
});
