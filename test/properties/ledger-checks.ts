import { isDeepStrictEqual } from 'node:util';
import { expect } from 'vitest';
import {
  accountViolations,
  describeViolation,
  invariantViolations,
  ledgerProcesses,
  movementProblems,
  parseAccountId,
  ReferenceLedger,
  type AccountId,
  type Answer,
  type AssetCatalog,
  type BalanceLookup,
  type Command,
  type LoadedMovement,
  type Movement,
  type PotView,
} from '../../src/ledger/index.js';
import { ASSETS, PARTITION_COUNT, type LedgerStep } from './arbitraries.js';

/*
 * Checks the property tests share. They recompute what they check from the entries and the account ids
 * rather than calling the helpers the core itself uses (netChanges, sumPerAsset), so a bug there shows.
 */

export type Balances = ReadonlyMap<AccountId, bigint>;

export const lookupOf =
  (balances: Balances): BalanceLookup =>
  (account) =>
    balances.get(account) ?? 0n;

/** The assets whose balances do not sum to zero over `balances`, with their sums. */
export function unbalancedAssets(balances: Balances): Map<string, bigint> {
  const sums = new Map<string, bigint>();
  for (const [account, balance] of balances) {
    const asset = parseAccountId(account)?.asset ?? `unparseable ${account}`;
    sums.set(asset, (sums.get(asset) ?? 0n) + balance);
  }
  return new Map([...sums].filter(([, sum]) => sum !== 0n));
}

/** Every invariant broken by any account of `balances`, described. */
export function brokenInvariants(balances: Balances): string[] {
  const lookup = lookupOf(balances);
  return [...balances.keys()].flatMap((account) => accountViolations(lookup, account).map(describeViolation));
}

/** The signed change of every account the entries touch. */
export function changesOf(movement: Pick<Movement, 'entries'>): Map<AccountId, bigint> {
  const changes = new Map<AccountId, bigint>();
  for (const { debit, credit, amountMinor } of movement.entries) {
    changes.set(debit, (changes.get(debit) ?? 0n) + amountMinor);
    changes.set(credit, (changes.get(credit) ?? 0n) - amountMinor);
  }
  return changes;
}

/** `balances` with `changes` applied; zero balances dropped (as ReferenceLedger.balances() does). */
export function applyChanges(balances: Balances, changes: Balances): Map<AccountId, bigint> {
  const after = new Map(balances);
  for (const [account, change] of changes) {
    const next = (after.get(account) ?? 0n) + change;
    if (next === 0n) after.delete(account);
    else after.set(account, next);
  }
  return after;
}

/**
 * What is wrong with a movement the core applied on top of `before`: malformed entries, an asset that
 * does not balance, or an invariant the balances after it break. Empty when the movement is sound.
 */
export function movementDefects(movement: Movement, before: Balances, assets: AssetCatalog = ASSETS): string[] {
  const defects = movementProblems(movement, { potId: movement.potId, partition: movement.partition, assets }).map(
    ({ entryIndex, problem }) => `entry ${entryIndex}: ${problem}`,
  );
  for (const [index, entry] of movement.entries.entries()) {
    for (const account of [entry.debit, entry.credit]) {
      if (parseAccountId(account)?.asset !== entry.asset) defects.push(`entry ${index}: ${account} does not hold ${entry.asset}`);
    }
  }
  const changes = changesOf(movement);
  for (const [asset, sum] of unbalancedAssets(changes)) defects.push(`the movement changes ${asset} by ${sum}`);
  const after = applyChanges(before, changes);
  defects.push(...invariantViolations(lookupOf(after), changes.keys()).map(describeViolation));
  return defects;
}

/** Deep equality that is fast when it holds and shows vitest's diff when it does not. */
export function expectDeepEqual<T>(actual: T, expected: T, message?: string): void {
  if (!isDeepStrictEqual(actual, expected)) expect(actual, message).toStrictEqual(expected);
}

/** A ledger over the registered processes and the test world's assets and partitions. */
export function freshLedger(): ReferenceLedger {
  return new ReferenceLedger(ledgerProcesses, ASSETS, PARTITION_COUNT);
}

/** The view `run` gets for `command` from `ledger`, built the way a shell builds it. */
export function viewOf(ledger: ReferenceLedger, command: Command): PotView {
  const process = ledgerProcesses.find(command.process);
  const parsed = process?.payload.safeParse(command.payload);
  const wanted = process !== undefined && parsed?.success === true ? process.loads(parsed.data).movementIds : [];
  const movements = new Map<string, LoadedMovement>();
  for (const id of wanted) {
    const loaded = ledger.movement(id);
    if (loaded !== undefined) movements.set(id, loaded);
  }
  return { pot: ledger.pots().get(command.potId), balances: new Map(ledger.balances()), movements };
}

/** One executed step: the answer and the ledger's balances before and after it. */
export interface StepResult {
  readonly step: LedgerStep;
  readonly answer: Answer;
  readonly before: Balances;
  readonly after: Balances;
}

/** Executes the steps on `ledger` in order, calling `each` after every step. */
export function executeAll(ledger: ReferenceLedger, steps: readonly LedgerStep[], each?: (result: StepResult) => void): Answer[] {
  const answers: Answer[] = [];
  let before = ledger.balances();
  for (const step of steps) {
    const answer = ledger.execute(step.command, step.movementId);
    const after = ledger.balances();
    answers.push(answer);
    each?.({ step, answer, before, after });
    before = after;
  }
  return answers;
}

/** The movement of an answer that changed the ledger now, if any. */
export function appliedMovement(answer: Answer): Movement | undefined {
  if (answer.kind !== 'answered' || answer.replayed) return undefined;
  return answer.outcome.kind === 'rejected' ? undefined : answer.outcome.movement;
}
