import { execFileSync } from 'node:child_process';
import { LABEL_RUN, runEnded } from '../harness/container/container-labels.ts';

/** A container lbdrill labelled, as `podman ps` lists it. */
export interface LabelledContainer {
  name: string;
  run: string;
  state: string;
}

/** Containers labelled by an lbdrill run, every state (podman's own store, no service needed). */
export function labelledContainers(): Array<LabelledContainer & { labels: Record<string, string> }> {
  const listed = JSON.parse(execFileSync('podman', ['ps', '--all', '--filter', `label=${LABEL_RUN}`, '--format', 'json'], { encoding: 'utf8' })) as Array<{ Names: string[]; State: string; Labels: Record<string, string> }>;
  return listed.map((c) => ({ name: c.Names[0] ?? '', run: c.Labels[LABEL_RUN] ?? '', state: c.State, labels: c.Labels }));
}

/** Containers whose lbdrill run has ended: what a run that cleaned up after itself leaves, i.e. nothing. */
export function leftContainers(): LabelledContainer[] {
  return labelledContainers()
    .filter((c) => runEnded(c.labels))
    .map(({ name, run, state }) => ({ name, run, state }));
}
