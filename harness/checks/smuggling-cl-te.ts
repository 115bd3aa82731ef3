import { hardeningCheck } from '../hardening/hardening-check.ts';

/** CL.TE and TE.CL requests are rejected or re-framed, never smuggled. */
export const smugglingClTe = hardeningCheck('smuggling.cl-te', 'CL.TE and TE.CL requests are rejected or re-framed, never smuggled');
