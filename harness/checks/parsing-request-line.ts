import { hardeningCheck } from '../hardening/hardening-check.ts';

/** Invalid request lines are rejected or cleaned before forwarding. */
export const parsingRequestLine = hardeningCheck('parsing.request-line', 'Invalid request lines are rejected or cleaned before forwarding');
