import { apacheTarget } from './apache/apache.ts';
import { haproxyTarget } from './haproxy/haproxy.ts';
import { nginxTarget } from './nginx/nginx.ts';
import { referenceTarget } from './reference/reference.ts';
import type { TargetKind, TargetName } from './target-kind.ts';

/** Every kind of target, by the name users give on --target. */
export const TARGETS: Readonly<Record<TargetName, TargetKind>> = {
  reference: referenceTarget,
  nginx: nginxTarget,
  haproxy: haproxyTarget,
  apache: apacheTarget,
};
