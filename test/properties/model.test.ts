import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatAmount,
  partitionOf,
  potAccount,
  RejectionCode,
  systemAccount,
  type Answer,
  type ReferenceLedger,
} from '../../src/ledger/index.js';
import { checkProperty, commandsReplayPath } from '../support/fast-check.js';
import { PARTITION_COUNT, commandOf, ownerOf } from './arbitraries.js';
import { freshLedger } from './ledger-checks.js';

/*
 * Model-based test of the ledger's money processes in GBP. The model is far simpler than the system: per
 * pot, whether it is open, its cash, prepaid cash, late charges and the fees it paid to ACME, and a list
 * of its movements as deltas of those four numbers. Each command predicts the outcome from the model
 * alone (including the Nubank corrections), runs on a ReferenceLedger, and compares outcome and balances.
 */

const MODEL_POTS = ['P-1', 'P-2', 'P-3'] as const;

/** What a movement changes in the model, in GBP minor units. */
interface Delta {
  readonly cash: bigint;
  readonly prepaid: bigint;
  readonly late: bigint;
  readonly fees: bigint;
}

const NO_CHANGE: Delta = { cash: 0n, prepaid: 0n, late: 0n, fees: 0n };
const delta = (change: Partial<Delta>): Delta => ({ ...NO_CHANGE, ...change });

interface ModelMovement {
  readonly movementId: string;
  readonly delta: Delta;
  /** Lifecycle movements and reversals cannot be reversed. */
  reversible: boolean;
  reversed: boolean;
}

interface PotModel extends Delta {
  readonly status: 'open' | 'closed';
  readonly history: ModelMovement[];
}

class LedgerModel {
  readonly pots = new Map<string, PotModel>();
  /** Numbers the commands, so command and movement ids are unique within a run. */
  step = 0;
}

interface Real {
  readonly ledger: ReferenceLedger;
}

type Expected = { readonly kind: 'applied' | 'corrected'; readonly delta: Delta } | { readonly kind: 'rejected'; readonly code: string };

const minus = (value: Delta): Delta => ({ cash: -value.cash, prepaid: -value.prepaid, late: -value.late, fees: -value.fees });
const plus = (pot: Delta, change: Delta): Delta => ({
  cash: pot.cash + change.cash,
  prepaid: pot.prepaid + change.prepaid,
  late: pot.late + change.late,
  fees: pot.fees + change.fees,
});
const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);

const partitionOfPot = (pot: string): number => partitionOf(ownerOf(pot), PARTITION_COUNT);

/**
 * What breaks when `change` applies to `pot`: undefined if nothing, else the rejection code the ledger
 * gives: insufficient funds when a pot balance would go negative (whatever else breaks with it),
 * otherwise invariant violated (a prepaid balance next to a late charge, or a partition's system account
 * on the wrong side of zero).
 */
function violation(model: LedgerModel, pot: string, change: Delta): string | undefined {
  const current = model.pots.get(pot);
  if (current === undefined) throw new Error(`model: no pot ${pot}`);
  const after = plus(current, change);
  const negative = after.cash < 0n || after.prepaid < 0n || after.late < 0n;
  const exclusive = after.prepaid !== 0n && after.late !== 0n;
  // The partition's system accounts: bank = -(cash + prepaid + fees), due = -late, fees = Σ fees.
  const partition = partitionOfPot(pot);
  let held = 0n;
  let late = 0n;
  let fees = 0n;
  for (const [id, state] of model.pots) {
    if (partitionOfPot(id) !== partition) continue;
    const balances = id === pot ? after : state;
    held += balances.cash + balances.prepaid + balances.fees;
    late += balances.late;
    fees += balances.fees;
  }
  const system = -held > 0n || -late > 0n || fees < 0n;
  if (negative) return RejectionCode.insufficientFunds;
  return exclusive || system ? RejectionCode.invariantViolated : undefined;
}

/** The outcome of a movement planned as `planned`, corrected by `correct` (if the process has one) when it breaks something. */
function predict(model: LedgerModel, pot: string, planned: Delta, correct?: () => Delta): Expected {
  const state = model.pots.get(pot);
  if (state === undefined) return { kind: 'rejected', code: RejectionCode.potNotFound };
  if (state.status === 'closed') return { kind: 'rejected', code: RejectionCode.potClosed };
  const broken = violation(model, pot, planned);
  if (broken === undefined) return { kind: 'applied', delta: planned };
  if (correct === undefined) return { kind: 'rejected', code: broken };
  const corrected = correct();
  const stillBroken = violation(model, pot, corrected);
  return stillBroken === undefined ? { kind: 'corrected', delta: corrected } : { kind: 'rejected', code: stillBroken };
}

const money = (amountMinor: bigint) => ({ amount: formatAmount(amountMinor, 2), currency: 'GBP' });
const pounds = (amountMinor: bigint) => formatAmount(amountMinor, 2);

/** The pot's GBP balances in the ledger must be the model's, and so must the partition's system accounts. */
function expectBalancesMatch(model: LedgerModel, real: Real): void {
  const balances = real.ledger.balances();
  const expected = new Map<string, bigint>();
  const add = (account: string, amount: bigint) => {
    if (amount !== 0n) expected.set(account, (expected.get(account) ?? 0n) + amount);
  };
  for (const [pot, state] of model.pots) {
    const partition = partitionOfPot(pot);
    add(potAccount(pot, 'cash', 'GBP'), state.cash);
    add(potAccount(pot, 'cash.prepaid', 'GBP'), state.prepaid);
    add(potAccount(pot, 'charges.late', 'GBP'), state.late);
    add(systemAccount(partition, 'acme.fees', 'GBP'), state.fees);
    add(systemAccount(partition, 'external.bank', 'GBP'), -(state.cash + state.prepaid + state.fees));
    add(systemAccount(partition, 'charges.due', 'GBP'), -state.late);
  }
  expect(new Map([...balances].filter(([, balance]) => balance !== 0n))).toEqual(new Map([...expected].filter(([, balance]) => balance !== 0n)));
}

/** One operation on one pot: predicts from the model, executes on the ledger, compares, updates the model. */
abstract class PotCommand implements fc.Command<LedgerModel, Real> {
  constructor(readonly pot: string) {}
  abstract readonly process: string;
  abstract payload(model: LedgerModel): unknown;
  abstract expected(model: LedgerModel): Expected;
  abstract toString(): string;

  check(): boolean {
    return true;
  }

  run(model: LedgerModel, real: Real): void {
    const number = (model.step += 1);
    const movementId = `mv-${number}`;
    const expected = this.expected(model);
    const answer: Answer = real.ledger.execute(commandOf(`cmd-${number}`, this.process, this.pot, this.payload(model)), movementId);
    if (answer.kind !== 'answered') throw new Error(`${this.toString()}: unexpected ${answer.kind}`);
    const { outcome } = answer;
    if (expected.kind === 'rejected') {
      expect(outcome.kind === 'rejected' ? outcome.code : outcome.kind, this.toString()).toBe(expected.code);
    } else {
      expect(outcome.kind === 'rejected' ? `${outcome.code}: ${outcome.reason}` : outcome.kind, this.toString()).toBe(expected.kind);
      this.update(model, movementId, expected.delta);
    }
    expectBalancesMatch(model, real);
  }

  /** Applies an accepted movement to the model. */
  protected update(model: LedgerModel, movementId: string, change: Delta): void {
    const state = model.pots.get(this.pot);
    if (state === undefined) throw new Error(`model: no pot ${this.pot}`);
    model.pots.set(this.pot, { ...state, ...plus(state, change) });
    state.history.push({ movementId, delta: change, reversible: true, reversed: false });
  }
}

class OpenCommand extends PotCommand {
  readonly process = 'pot.open';
  payload = () => ({});
  expected = (model: LedgerModel): Expected =>
    model.pots.has(this.pot) ? { kind: 'rejected', code: RejectionCode.potExists } : { kind: 'applied', delta: NO_CHANGE };
  protected override update(model: LedgerModel, movementId: string): void {
    model.pots.set(this.pot, { status: 'open', ...NO_CHANGE, history: [{ movementId, delta: NO_CHANGE, reversible: false, reversed: false }] });
  }
  toString = () => `Open(${this.pot})`;
}

class CloseCommand extends PotCommand {
  readonly process = 'pot.close';
  payload = () => ({});
  expected(model: LedgerModel): Expected {
    const state = model.pots.get(this.pot);
    const empty = state !== undefined && state.cash === 0n && state.prepaid === 0n && state.late === 0n;
    const gate = predict(model, this.pot, NO_CHANGE);
    return gate.kind === 'rejected' || empty ? gate : { kind: 'rejected', code: RejectionCode.potNotEmpty };
  }
  protected override update(model: LedgerModel): void {
    const state = model.pots.get(this.pot);
    if (state !== undefined) model.pots.set(this.pot, { ...state, status: 'closed' });
  }
  toString = () => `Close(${this.pot})`;
}

class DepositCommand extends PotCommand {
  readonly process = 'cash.deposit';
  constructor(pot: string, readonly amountMinor: bigint) {
    super(pot);
  }
  payload = () => money(this.amountMinor);
  expected = (model: LedgerModel) => predict(model, this.pot, delta({ cash: this.amountMinor }));
  toString = () => `Deposit(${this.pot}, ${pounds(this.amountMinor)})`;
}

class WithdrawCommand extends PotCommand {
  readonly process = 'cash.withdraw';
  constructor(pot: string, readonly amountMinor: bigint) {
    super(pot);
  }
  payload = () => money(this.amountMinor);
  expected = (model: LedgerModel) => predict(model, this.pot, delta({ cash: -this.amountMinor }));
  toString = () => `Withdraw(${this.pot}, ${pounds(this.amountMinor)})`;
}

class TransferCommand extends PotCommand {
  readonly process = 'cash.transfer';
  constructor(pot: string, readonly amountMinor: bigint, readonly toPrepaid: boolean) {
    super(pot);
  }
  payload = () => ({
    ...money(this.amountMinor),
    source: this.toPrepaid ? 'cash' : 'cash.prepaid',
    target: this.toPrepaid ? 'cash.prepaid' : 'cash',
  });
  expected = (model: LedgerModel) =>
    predict(model, this.pot, this.toPrepaid ? delta({ cash: -this.amountMinor, prepaid: this.amountMinor }) : delta({ cash: this.amountMinor, prepaid: -this.amountMinor }));
  toString = () => `Transfer(${this.pot}, ${pounds(this.amountMinor)}, ${this.toPrepaid ? 'cash → prepaid' : 'prepaid → cash'})`;
}

/** A charge is recorded late, unless the pot holds prepaid cash: then it is paid from prepaid first. */
class AssessCommand extends PotCommand {
  readonly process = 'charge.assess';
  constructor(pot: string, readonly amountMinor: bigint) {
    super(pot);
  }
  payload = () => money(this.amountMinor);
  expected = (model: LedgerModel) =>
    predict(model, this.pot, delta({ late: this.amountMinor }), () => {
      const fromPrepaid = min(model.pots.get(this.pot)?.prepaid ?? 0n, this.amountMinor);
      return delta({ prepaid: -fromPrepaid, fees: fromPrepaid, late: this.amountMinor - fromPrepaid });
    });
  toString = () => `Assess(${this.pot}, ${pounds(this.amountMinor)})`;
}

/** Repaying more than is owed settles the debt and puts the excess in prepaid cash. */
class RepayCommand extends PotCommand {
  readonly process = 'charge.repay';
  constructor(pot: string, readonly amountMinor: bigint) {
    super(pot);
  }
  payload = () => money(this.amountMinor);
  expected = (model: LedgerModel) =>
    predict(model, this.pot, delta({ cash: -this.amountMinor, late: -this.amountMinor, fees: this.amountMinor }), () => {
      const settled = min(model.pots.get(this.pot)?.late ?? 0n, this.amountMinor);
      return delta({ cash: -this.amountMinor, late: -settled, fees: settled, prepaid: this.amountMinor - settled });
    });
  toString = () => `Repay(${this.pot}, ${pounds(this.amountMinor)})`;
}

/** Reverses the pot's movement `back` places from its latest (0: the latest), whatever it was. */
class ReverseCommand extends PotCommand {
  readonly process = 'movement.reverse';
  constructor(pot: string, readonly back: number) {
    super(pot);
  }
  target(model: LedgerModel): ModelMovement | undefined {
    const history = model.pots.get(this.pot)?.history ?? [];
    return history[history.length - 1 - (this.back % Math.max(history.length, 1))];
  }
  payload = (model: LedgerModel) => ({ movementId: this.target(model)?.movementId ?? 'mv-none' });
  expected(model: LedgerModel): Expected {
    const gate = predict(model, this.pot, NO_CHANGE);
    if (gate.kind === 'rejected') return gate;
    const target = this.target(model);
    if (target === undefined) return { kind: 'rejected', code: RejectionCode.movementNotFound };
    if (!target.reversible || target.reversed) return { kind: 'rejected', code: RejectionCode.movementNotReversible };
    return predict(model, this.pot, minus(target.delta));
  }
  protected override update(model: LedgerModel, movementId: string, change: Delta): void {
    const target = this.target(model);
    super.update(model, movementId, change);
    const state = model.pots.get(this.pot);
    const reversal = state?.history[state.history.length - 1];
    if (target !== undefined) target.reversed = true;
    if (reversal !== undefined) reversal.reversible = false;
  }
  toString = () => `ReverseLast(${this.pot}, back ${this.back})`;
}

const pot = fc.constantFrom(...MODEL_POTS);
const amount = fc.oneof({ weight: 3, arbitrary: fc.bigInt(1n, 5_000n) }, { weight: 1, arbitrary: fc.bigInt(1n, 100_000n) });

const commandArbitraries: fc.Arbitrary<fc.Command<LedgerModel, Real>>[] = [
  pot.map((p) => new OpenCommand(p)),
  fc.tuple(pot, amount).map(([p, a]) => new DepositCommand(p, a)),
  fc.tuple(pot, amount).map(([p, a]) => new WithdrawCommand(p, a)),
  fc.tuple(pot, amount, fc.boolean()).map(([p, a, toPrepaid]) => new TransferCommand(p, a, toPrepaid)),
  fc.tuple(pot, amount).map(([p, a]) => new AssessCommand(p, a)),
  fc.tuple(pot, amount).map(([p, a]) => new RepayCommand(p, a)),
  pot.map((p) => new CloseCommand(p)),
  fc.tuple(pot, fc.nat({ max: 4 })).map(([p, back]) => new ReverseCommand(p, back)),
];

const setup = () => ({ model: new LedgerModel(), real: { ledger: freshLedger() } });

/**
 * Pinned: a repayment larger than the late charge (corrected into prepaid), a charge paid from that
 * prepaid, a reversal of that charge (prepaid comes back, ACME gives the fee back), a transfer out of
 * prepaid, a reversal of a reversal, and a close refused until everything is withdrawn.
 */
const pinned: fc.Command<LedgerModel, Real>[] = [
  new OpenCommand('P-1'),
  new DepositCommand('P-1', 10_000n),
  new AssessCommand('P-1', 10_000n),
  new RepayCommand('P-1', 15_000n), // only 100.00 cash: refused, insufficient funds
  new RepayCommand('P-1', 6_000n), // 60.00 of 100.00 late: applied as planned
  new DepositCommand('P-1', 5_000n),
  new RepayCommand('P-1', 9_000n), // 40.00 late: corrected, 50.00 to prepaid
  new AssessCommand('P-1', 2_000n), // corrected: paid from prepaid
  new TransferCommand('P-1', 5_000n, false), // only 30.00 prepaid: refused
  new ReverseCommand('P-1', 0), // the charge paid from prepaid comes back to prepaid
  new ReverseCommand('P-1', 0), // a reversal cannot be reversed
  new ReverseCommand('P-1', 1), // nor can a movement reversed already
  new TransferCommand('P-1', 5_000n, false),
  new CloseCommand('P-1'), // still holds 50.00 cash
  new WithdrawCommand('P-1', 5_000n),
  new CloseCommand('P-1'),
  new DepositCommand('P-1', 1n), // closed
  new OpenCommand('P-1'), // exists (closed)
];

describe('the ledger against a model of pots in GBP', () => {
  it('matches the model after every operation', () => {
    checkProperty(
      'model-based ledger',
      fc.property(fc.commands(commandArbitraries, { maxCommands: 40, size: 'max', ...commandsReplayPath() }), (commands) => {
        fc.modelRun(setup, commands);
      }),
      { examples: [[pinned]] },
    );
  });

  it('runs the pinned sequence to the expected end state', () => {
    const { model, real } = setup();
    fc.modelRun(() => ({ model, real }), pinned);
    expect(model.pots.get('P-1')?.status).toBe('closed');
    expect(real.ledger.pots().get('P-1')?.status).toBe('closed');
    expect(real.ledger.balances().get(systemAccount(partitionOfPot('P-1'), 'acme.fees', 'GBP'))).toBe(10_000n);
  });
});
