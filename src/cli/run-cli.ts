import { ConfigError } from '../config/config.js';
import { CliError } from './errors.js';

/**
 * Runs a command-line entry point: its exit code is what `main` returns. A configuration problem or
 * an operator's mistake (CliError) prints its message alone and exits 2; any other error prints its
 * stack and exits 2.
 */
export async function runCli(main: (args: readonly string[]) => Promise<number>): Promise<void> {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (error) {
    const forOperator = error instanceof ConfigError || error instanceof CliError;
    process.stderr.write(`${forOperator ? error.message : `error: ${error instanceof Error ? error.stack ?? error.message : String(error)}`}\n`);
    process.exitCode = 2;
  }
}
