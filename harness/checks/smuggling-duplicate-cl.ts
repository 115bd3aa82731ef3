import { hardeningCheck } from '../hardening/hardening-check.ts';

/** Duplicate, empty and malformed Content-Length is rejected or collapsed. */
export const smugglingDuplicateCl = hardeningCheck('smuggling.duplicate-cl', 'Duplicate, empty and malformed Content-Length is rejected or collapsed');
