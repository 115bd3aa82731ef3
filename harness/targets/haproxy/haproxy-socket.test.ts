import { describe, expect, it } from 'vitest';
import { parseServersState } from './haproxy-socket.ts';

describe('parseServersState', () => {
  it('reads stopped as down, starting (slowstart), running and stopping as up, and the forced admin states', () => {
    const text = [
      '1',
      '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change',
      '3 api_pool 1 stopped 10.0.0.11 0 0 1 1 45 15 3 4 6 0 0 0 - 8080 - 0 0 - - 0',
      '3 api_pool 2 ramping 10.0.0.12 1 0 1 1 3 15 3 4 6 0 0 0 - 8080 - 0 0 - - 0',
      '3 api_pool 3 running 10.0.0.13 2 0 1 1 155 15 3 4 6 0 0 0 - 8080 - 0 0 - - 0',
      '3 api_pool 4 soft-stopped 10.0.0.14 3 0 1 1 155 15 3 4 6 0 0 0 - 8080 - 0 0 - - 0',
      '3 api_pool 5 in-maint 10.0.0.15 0 1 1 1 155 15 3 4 6 0 0 0 - 8080 - 0 0 - - 0',
      '3 api_pool 6 draining 10.0.0.16 2 8 1 1 155 15 3 4 6 0 0 0 - 8080 - 0 0 - - 0',
      '',
    ].join('\n');
    expect(parseServersState(text).map((r) => `${r.server} ${r.state}`)).toEqual(['stopped down', 'ramping up', 'running up', 'soft-stopped up', 'in-maint maint', 'draining drain']);
  });
});
