import { hardeningCheck } from '../hardening/hardening-check.ts';

/** Bare LF, bare CR and NUL never reach a backend as sent. */
export const parsingBareLfCrNul = hardeningCheck('parsing.bare-lf-cr-nul', 'Bare LF, bare CR and NUL never reach a backend as sent');
