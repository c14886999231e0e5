/**
 * What goes wrong for an operator rather than in the code: a mistyped command or flag, a database with
 * no schema, a server out of reach. The CLI prints the message alone (no stack) and exits 2.
 */
export type CliErrorCode = 'CLI_ERR_USAGE' | 'CLI_ERR_NO_SCHEMA' | 'CLI_ERR_DATABASE_UNREACHABLE';

export class CliError extends Error {
  constructor(
    readonly code: CliErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

/** A usage error; with the command's usage line when it is known, else a pointer to the list. */
export function usageError(message: string, usage?: string): CliError {
  const hint = usage === undefined ? 'potledger help lists the commands' : `usage: potledger ${usage}`;
  return new CliError('CLI_ERR_USAGE', `potledger: ${message}\n${hint}`);
}
