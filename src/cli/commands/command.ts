/** One `potledger` command: its usage lines for help, and what it does with the arguments after its name. */
export interface CliCommand {
  /** Each way to call it, after `potledger `, with a short gloss. */
  readonly usage: readonly { readonly line: string; readonly gloss: string }[];
  /** Returns the exit code: 0 done, 1 a negative answer (a break, nothing found, half a report). */
  run(args: readonly string[]): Promise<number>;
}
