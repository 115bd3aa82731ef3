import { bandwidthFault } from './bandwidth.ts';
import { crashFault } from './crash.ts';
import { errorsFault } from './errors.ts';
import type { FaultKind, FaultType } from './fault.ts';
import { flapFault } from './flap.ts';
import { hangFault } from './hang.ts';
import { healthFailFault } from './health-fail.ts';
import { latencyFault } from './latency.ts';
import { limitDataFault } from './limit-data.ts';
import { linkDownFault } from './link-down.ts';
import { partitionFault } from './partition.ts';
import { resetPeerFault } from './reset-peer.ts';
import { slicerFault } from './slicer.ts';
import { slowCloseFault } from './slow-close.ts';
import { slowFault } from './slow.ts';
import { stopFault } from './stop.ts';
import { timeoutFault } from './timeout.ts';

const ALL = [
  stopFault,
  crashFault,
  hangFault,
  slowFault,
  errorsFault,
  healthFailFault,
  flapFault,
  latencyFault,
  bandwidthFault,
  resetPeerFault,
  timeoutFault,
  slicerFault,
  limitDataFault,
  slowCloseFault,
  linkDownFault,
  partitionFault,
] as unknown as ReadonlyArray<FaultKind<unknown>>;

/** Every fault by its toxiproxy-style type name. */
export const FAULTS: ReadonlyMap<FaultType, FaultKind<unknown>> = new Map(ALL.map((f) => [f.type, f]));
