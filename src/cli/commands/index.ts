import { usageError } from '../errors.js';
import { printLines } from '../output.js';
import { apiKeyCommand } from './api-key.js';
import { balanceSheetCommand } from './balance-sheet.js';
import type { CliCommand } from './command.js';
import { outcomeCommand } from './outcome.js';
import { poisonCommand } from './poison.js';
import { pricesCommand } from './prices.js';
import { rebalanceCommand } from './rebalance.js';
import { reconCommand } from './recon.js';
import { shardsCommand } from './shards.js';
import { traceCommand } from './trace.js';
import { verifyCommand } from './verify.js';

/** The operator's commands by name (a Map, so that a name like "constructor" is simply unknown). */
const COMMANDS: ReadonlyMap<string, CliCommand> = new Map([
  ['verify', verifyCommand],
  ['balance-sheet', balanceSheetCommand],
  ['shards', shardsCommand],
  ['outcome', outcomeCommand],
  ['poison', poisonCommand],
  ['api-key', apiKeyCommand],
  ['prices', pricesCommand],
  ['trace', traceCommand],
  ['recon', reconCommand],
  ['rebalance', rebalanceCommand],
]);

const HELP = new Set(['help', '--help', '-h']);

/** `potledger <command> [flags]`: runs the named command and returns its exit code. */
export async function potledger(args: readonly string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || HELP.has(name)) {
    printLines(fullUsage());
    return 0;
  }
  const command = COMMANDS.get(name);
  if (command === undefined) throw usageError(`unknown command "${name}"`);
  if (rest.some((arg) => HELP.has(arg))) {
    printLines(command.usage.flatMap(usageLines));
    return 0;
  }
  return command.run(rest);
}

function usageLines({ line, gloss }: { readonly line: string; readonly gloss: string }): string[] {
  return [`  potledger ${line}`, `      ${gloss}`];
}

function fullUsage(): string[] {
  return [
    'usage: potledger <command> [flags]',
    '',
    ...[...COMMANDS.values()].flatMap((command) => command.usage.flatMap(usageLines)),
    ...usageLines({ line: 'help', gloss: 'this list' }),
    '',
    'Every command reads DATABASE_URL; shards and rebalance also NATS_URL, NATS_PREFIX and PARTITION_COUNT.',
    '--json prints one JSON document on stdout; messages go to stderr.',
    'Exit codes: 0 done; 1 a negative answer (verify found breaks, no such outcome or active key,',
    'shards could not reach NATS, prices found problems, trace found nothing, recon found breaks,',
    'rebalance had orders refused); 2 could not run',
    '(usage, configuration, database, an unreadable file).',
  ];
}
