import { ApacheBalancerView } from '../targets/apache/apache-balancer-view.ts';
import { HaproxySocketView } from '../targets/haproxy/haproxy-socket-view.ts';
import { HaproxyStatsCsvView } from '../targets/haproxy/haproxy-stats-csv-view.ts';
import type { PolledView } from '../runtime/polled-view.ts';
import { PrometheusView } from '../runtime/prometheus-view.ts';
import { ReferenceAdminView } from '../targets/reference/reference-admin-view.ts';
import type { Deployment } from './deployment.ts';

/** The LB's own view the deployment names, not yet started; undefined for `view: none` (nginx OSS: traffic tells). */
export function deploymentView(deployment: Deployment): PolledView | undefined {
  const { view, pollMs } = deployment;
  switch (view.kind) {
    case 'none':
      return undefined;
    case 'haproxy-socket':
      return new HaproxySocketView(view.socket, pollMs);
    case 'haproxy-stats-csv':
      return new HaproxyStatsCsvView(view.url, pollMs);
    case 'apache-balancer-manager':
      return new ApacheBalancerView(view.url, pollMs);
    case 'reference-admin':
      return new ReferenceAdminView(view.url, view.tokenEnv, pollMs);
    case 'prometheus':
      return new PrometheusView(view.url, pollMs);
  }
}

/** How the report names the LB's view: how its transitions are timed, or why there is none. */
export function viewTitle(view: PolledView | undefined): string {
  return view ? view.eventSource : 'none: DOWN and UP are judged from traffic alone (nginx OSS has no status API)';
}
