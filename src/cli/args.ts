import { parseArgs, type ParseArgsConfig } from 'node:util';
import { usageError } from './errors.js';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;

/**
 * A command's flags and arguments, parsed strictly: an unknown flag, a flag without its value or the
 * wrong number of arguments is a usage error naming the command's usage line.
 */
export function parseCommandLine<const Options extends ParseArgsOptionsConfig>(
  usage: string,
  args: readonly string[],
  options: Options,
  argumentCount = 0,
) {
  const parsed = (() => {
    try {
      return parseArgs({ args: [...args], options, strict: true, allowPositionals: true });
    } catch (error) {
      // parseArgs throws only for what it was given (its codes start ERR_PARSE_ARGS); anything else is a bug.
      if (!isParseArgsError(error)) throw error;
      throw usageError(error.message, usage);
    }
  })();
  if (parsed.positionals.length !== argumentCount) {
    throw usageError(`expected ${argumentCount} argument(s), got ${parsed.positionals.length}`, usage);
  }
  return parsed;
}

function isParseArgsError(error: unknown): error is Error {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' && error.code.startsWith('ERR_PARSE_ARGS');
}

/** A whole-number flag's value, if given. */
export function wholeNumberFlag(usage: string, name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]{1,9}$/.test(value)) throw usageError(`--${name} takes a whole number, not "${value}"`, usage);
  return Number(value);
}
