/*
 * Standalone entry: `node --import tsx reference-lb/src/main.ts --config FILE`.
 * Prints `{"event":"ready","listeners":[...]}` on stdout once every listener is bound,
 * then JSON-line events; a bad config is one `reference-lb: ...` line on stderr and exit 2;
 * SIGTERM/SIGINT close everything and exit 0.
 */
import { runCli } from './run-cli.ts';

process.exit(await runCli(process.argv.slice(2)));
