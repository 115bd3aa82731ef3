import { describe, expect, it } from 'vitest';
import { parseScenario } from './scenario.ts';

const base = {
  name: 'x',
  title: 'x',
  profile: 'haproxy-role',
  duration: '10s',
  timeline: [{ at: '1s', fault: 'latency', backend: 'backend-api-1', stream: 'downstream', attributes: { latencyMs: 100 }, until: '5s' }],
  assert: [{ metric: 'success_rate', min: 0.99 }],
};

function error(patch: Record<string, unknown>): string {
  try {
    parseScenario({ ...base, ...patch }, 'scenarios/x.yaml');
  } catch (err) {
    return (err as Error).message;
  }
  return 'no error';
}

describe('parseScenario', () => {
  it('accepts a valid scenario and turns durations into ms', () => {
    const s = parseScenario(base, 'scenarios/x.yaml');
    expect(s.duration).toBe(10_000);
    expect(s.timeline[0]).toMatchObject({ at: 1000, until: 5000 });
    expect(s.traffic.rate).toBe(200);
  });

  it.each([
    [{ timeline: [{ at: '1s', fault: 'explode', backend: 'b' }] }, 'scenarios/x.yaml: timeline[0].fault: unknown fault (known: stop, crash'],
    [{ timeline: [{ at: '1s', fault: 'latency', backend: 'b', attributes: { latencyMs: -5 } }] }, 'scenarios/x.yaml: timeline[0].attributes: latencyMs:'],
    [{ timeline: [{ at: '1s', fault: 'errors', backend: 'b', attributes: { rate: 2 } }] }, 'scenarios/x.yaml: timeline[0].attributes: rate:'],
    [{ timeline: [{ at: '1s', fault: 'stop', backend: 'b', stream: 'upstream' }] }, 'timeline[0].stream: "stop" acts on the backend process'],
    [{ timeline: [{ at: '12s', fault: 'stop', backend: 'b' }] }, 'timeline[0].at: 12000 ms is not before the end of the run (duration 10000 ms)'],
    [{ timeline: [{ at: '1s', fault: 'stop', backend: 'b', until: '11s' }] }, 'timeline[0].until: 11000 ms is past the end of the run'],
    [{ timeline: [{ at: 'soon', fault: 'stop', backend: 'b' }] }, 'timeline[0].at: expected a duration like 500ms'],
    [{ assert: [{ metric: 'detect_ms', max: '2s' }] }, 'assert[0].fault: detect_ms is measured per fault'],
    [{ assert: [{ metric: 'vibes', max: 1 }] }, 'assert[0].metric: unknown metric'],
    [{ assert: [] }, 'assert: a scenario needs at least one assertion'],
    [{ colour: 'red' }, "Unrecognized key(s) in object: 'colour'"],
  ])('rejects %j with one line naming the field', (patch, message) => {
    const text = error(patch);
    expect(text).toContain(message);
    expect(text).not.toContain('\n');
  });
});
