import { potledger } from './commands/index.js';
import { runCli } from './run-cli.js';

/** `npx potledger <command>` (or `npm run potledger -- <command>`): the operator's CLI; `potledger help` lists the commands. */
await runCli(potledger);
