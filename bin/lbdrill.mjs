#!/usr/bin/env node
// Entry point for `npx lbdrill`: loads the TypeScript CLI through tsx, so a fresh
// `npm ci` is all a user needs (no build step).
import { register } from 'tsx/esm/api';

register();
await import('../harness/cli.ts');
