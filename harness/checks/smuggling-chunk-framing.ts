import { hardeningCheck } from '../hardening/hardening-check.ts';

/** Malformed chunked framing is rejected. */
export const smugglingChunkFraming = hardeningCheck('smuggling.chunk-framing', 'Malformed chunked framing is rejected');
