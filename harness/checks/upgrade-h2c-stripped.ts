import { hardeningCheck } from '../hardening/hardening-check.ts';

/** h2c upgrade requests never reach a backend as an upgrade. */
export const upgradeH2cStripped = hardeningCheck('upgrade.h2c-stripped', 'h2c upgrade requests never reach a backend as an upgrade');
