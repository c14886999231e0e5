/**
 * Failpoints: named places where a test can make a worker die on purpose, to prove a crash there is
 * harmless. Set with POTLEDGER_FAILPOINT=<name>:<n> (die with SIGKILL the n-th time the point is
 * reached). Unset in production; the names are the only ones accepted. An in-process worker may be
 * given its own function instead (WorkerOptions.failpoint), which may throw: a test injects a bug there.
 */
export const FAILPOINTS = ['after-plan-before-commit', 'after-commit-before-ack', 'after-ack-before-events'] as const;
export type Failpoint = (typeof FAILPOINTS)[number];

export interface FailpointSetting {
  readonly name: Failpoint;
  readonly hit: number;
}

export function parseFailpoint(text: string | undefined): FailpointSetting | undefined {
  if (text === undefined || text === '') return undefined;
  const [name, hit] = text.split(':');
  if (!FAILPOINTS.includes(name as Failpoint) || !/^[1-9][0-9]*$/.test(hit ?? '')) {
    throw new RangeError(`POTLEDGER_FAILPOINT must be <name>:<n> with name one of ${FAILPOINTS.join(', ')}`);
  }
  return { name: name as Failpoint, hit: Number(hit) };
}

/** Returns a function to call at each failpoint; it kills the process at the configured hit. */
export function failpointTrigger(setting: FailpointSetting | undefined): (name: Failpoint) => void {
  if (setting === undefined) return () => undefined;
  let hits = 0;
  return (name) => {
    if (name !== setting.name) return;
    hits += 1;
    if (hits === setting.hit) process.kill(process.pid, 'SIGKILL');
  };
}
