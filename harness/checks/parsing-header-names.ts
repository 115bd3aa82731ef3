import { hardeningCheck } from '../hardening/hardening-check.ts';

/** Invalid header names are rejected or dropped. */
export const parsingHeaderNames = hardeningCheck('parsing.header-names', 'Invalid header names are rejected or dropped');
