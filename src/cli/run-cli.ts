import { ConfigError } from '../config/config.js';

/**
 * Runs a command-line entry point: its exit code is what `main` returns; a configuration problem prints
 * its list and exits 2; any other error prints its message and exits 2.
 */
export async function runCli(main: (args: readonly string[]) => Promise<number>): Promise<void> {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error instanceof ConfigError ? error.message : `error: ${error instanceof Error ? error.stack ?? error.message : String(error)}`}\n`);
    process.exitCode = 2;
  }
}
