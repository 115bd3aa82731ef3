import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { LABEL_HOST, LABEL_RUN, LABEL_RUN_START, processStartTime, runEnded, runLabels } from './container-labels.ts';

describe('runEnded', () => {
  it('is false for this run, true once its pid is gone', () => {
    expect(runEnded(runLabels('nginx', 'lb'))).toBe(false);
    const child = spawnSync('true');
    expect(runEnded({ ...runLabels('nginx', 'lb'), [LABEL_RUN]: String(child.pid) })).toBe(true);
  });

  it('is true when the pid now belongs to another process (a different start time)', () => {
    expect(runEnded({ ...runLabels('nginx', 'lb'), [LABEL_RUN_START]: '1' })).toBe(true);
  });

  it("leaves another host's containers alone: it cannot tell whether that run is alive", () => {
    expect(runEnded({ ...runLabels('nginx', 'lb'), [LABEL_RUN]: '999999999', [LABEL_HOST]: `not-${hostname()}` })).toBe(false);
  });

  it('reads a start time for a live pid only', () => {
    expect(processStartTime(process.pid)).toMatch(/^\d+$/);
    expect(processStartTime(999_999_999)).toBeUndefined();
  });
});
