import { hardeningCheck } from '../hardening/hardening-check.ts';

/** Obfuscated Transfer-Encoding is rejected, never read as chunked by one side only. */
export const smugglingTeObfuscated = hardeningCheck('smuggling.te-obfuscated', 'Obfuscated Transfer-Encoding is rejected, never read as chunked by one side only');
