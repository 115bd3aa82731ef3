import { hardeningCheck } from '../hardening/hardening-check.ts';

/** An absolute-form target and its Host are never forwarded disagreeing. */
export const parsingAbsoluteForm = hardeningCheck('parsing.absolute-form', 'An absolute-form target and its Host are never forwarded disagreeing');
