import fc from 'fast-check';

/**
 * Runs fast-check properties the same way everywhere: every property prints its seed before it runs, runs
 * at least `NUM_RUNS_DEFAULT` times unless told otherwise, and can be replayed exactly.
 *
 *     FC_NUM_RUNS=5000 npx vitest run test/properties                       more runs
 *     PROPERTY_RUNS_MIN=1000 npx vitest run <files>                         every property at least this many
 *                                                                           runs, even those that ask for fewer
 *                                                                           (database-backed ones): `npm run test:long`
 *     FC_SEED=123 npx vitest run test/properties                            a chosen seed for every property
 *     FC_SEED=123 FC_PATH="4:1:0" npx vitest run <file> -t "<test name>"    replay one failure: the failing
 *                                                                           property's own seed and path, as printed
 *     FC_REPLAY_PATH="AAB" ...                                              with FC_SEED/FC_PATH, also replay the
 *                                                                           shrinking of fc.commands (printed too)
 */

/** The issue asks for at least this many runs of every property in CI. */
export const NUM_RUNS_DEFAULT = 1000;

/** What one property run uses; printed before the property runs. */
export interface PropertySettings {
  readonly seed: number;
  readonly numRuns: number;
  /** Set only when replaying a failure (FC_PATH). */
  readonly path?: string;
}

/**
 * Reads FC_SEED, FC_NUM_RUNS, PROPERTY_RUNS_MIN and FC_PATH; a fresh random 32-bit seed when FC_SEED is
 * unset. `numRunsDefault` is for properties that run against a real database, where a run costs
 * milliseconds; PROPERTY_RUNS_MIN raises every property to at least that many runs (the long run, `npm run
 * test:long`), whatever it asks for itself or FC_NUM_RUNS says.
 */
export function propertySettings(environment: NodeJS.ProcessEnv = process.env, numRunsDefault = NUM_RUNS_DEFAULT): PropertySettings {
  const seed = readInteger(environment, 'FC_SEED') ?? (Math.random() * 2 ** 32) | 0;
  const numRuns = Math.max(readInteger(environment, 'FC_NUM_RUNS') ?? numRunsDefault, propertyRunsMin(environment));
  if (numRuns < 1) throw new RangeError('FC_NUM_RUNS must be at least 1');
  const path = environment.FC_PATH;
  if (path === undefined || path === '') return { seed, numRuns };
  if (environment.FC_SEED === undefined) throw new RangeError('FC_PATH replays a failure only together with its FC_SEED');
  return { seed, numRuns, path };
}

/** PROPERTY_RUNS_MIN, or 0 when unset: the house-wide floor on every property's run count. */
export function propertyRunsMin(environment: NodeJS.ProcessEnv = process.env): number {
  const runsMin = readInteger(environment, 'PROPERTY_RUNS_MIN') ?? 0;
  if (runsMin < 0) throw new RangeError('PROPERTY_RUNS_MIN must not be negative');
  return runsMin;
}

/**
 * How long the long run gives one property test. The whole long run takes well under this on a quiet
 * machine (docs/RELIABILITY.md); the margin is for a machine shared with other work.
 */
const LONG_RUN_TEST_TIMEOUT_MS = 3 * 60 * 60 * 1000;

/**
 * The vitest timeout of a test that checks a property: `timeoutMs` in the ordinary suite, three hours when
 * PROPERTY_RUNS_MIN raises its runs (a database-backed property at 1,000 runs takes minutes).
 */
export function propertyTestTimeoutMs(timeoutMs: number, environment: NodeJS.ProcessEnv = process.env): number {
  return propertyRunsMin(environment) > 0 ? Math.max(timeoutMs, LONG_RUN_TEST_TIMEOUT_MS) : timeoutMs;
}

/** The `replayPath` of `fc.commands` from FC_REPLAY_PATH, to replay a model-based failure exactly. */
export function commandsReplayPath(environment: NodeJS.ProcessEnv = process.env): { replayPath: string } | Record<string, never> {
  const replayPath = environment.FC_REPLAY_PATH;
  return replayPath === undefined || replayPath === '' ? {} : { replayPath };
}

/**
 * Checks `property` with the seed, run count and path from the environment. Prints one line
 * `[property] <name> seed=<seed> numRuns=<n>` first; on failure the error starts with the command line
 * that replays it, followed by fast-check's own report (seed, path, counterexample).
 */
export function checkProperty<Ts>(name: string, property: fc.IProperty<Ts>, params?: fc.Parameters<Ts>): void;
export function checkProperty<Ts>(name: string, property: fc.IAsyncProperty<Ts>, params?: fc.Parameters<Ts>): Promise<void>;
export function checkProperty<Ts>(
  name: string,
  property: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>,
  params: fc.Parameters<Ts> = {},
): void | Promise<void> {
  const settings = propertySettings(process.env, params.numRuns ?? NUM_RUNS_DEFAULT);
  console.log(`[property] ${name} seed=${settings.seed} numRuns=${settings.numRuns}${settings.path === undefined ? '' : ` path=${settings.path}`}`);
  const parameters: fc.Parameters<Ts> = { ...params, ...settings };
  try {
    const result = fc.assert(property as fc.IRawProperty<Ts>, parameters);
    if (result instanceof Promise) {
      return result.catch((error: unknown) => {
        throw withReplayHint(name, settings, error);
      });
    }
    return result;
  } catch (error) {
    throw withReplayHint(name, settings, error);
  }
}

/** Puts the replay command in front of fast-check's report, keeping the error (and its cause). */
function withReplayHint(name: string, settings: PropertySettings, error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const path = /path: "([^"]*)"/.exec(error.message)?.[1] ?? settings.path ?? '<path from the report below>';
  const replayPath = /replayPath="([^"]*)"/.exec(error.message)?.[1];
  const commands = replayPath === undefined ? '' : ` FC_REPLAY_PATH="${replayPath}"`;
  error.message = `[property] ${name} failed; replay with FC_SEED=${settings.seed} FC_PATH="${path}"${commands}\n${error.message}`;
  return error;
}

function readInteger(environment: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = environment[name];
  if (text === undefined || text === '') return undefined;
  if (!/^-?[0-9]+$/.test(text)) throw new RangeError(`${name} must be an integer, not "${text}"`);
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`${name} is out of range: ${text}`);
  return value;
}
