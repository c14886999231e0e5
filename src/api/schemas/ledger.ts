import { z } from 'zod';
import { isoDate, RejectionCode, type WireOutcome } from '../../ledger/index.js';

/**
 * The ledger's words on the wire: balances, entries, movements and the changes they carry, outcomes,
 * statements, one movement's detail, the balance sheet and a command's state.
 */

export const accountBalanceSchema = z.object({
  account: z.string(),
  kind: z.string(),
  asset: z.string(),
  balance: z.string().describe("Decimal string in the asset's units"),
  version: z.string(),
});

export const balancesSchema = z
  .object({
    potId: z.string(),
    asOf: z.string().describe('"now", or the closed business day the balances are taken at'),
    balances: z.array(accountBalanceSchema).readonly(),
  })
  .meta({ id: 'Balances' });

export const balancesQuerySchema = z.strictObject({ asOf: isoDate.optional().describe('A closed business day (YYYY-MM-DD); now when absent') });

export const STATEMENT_LIMIT_MAX = 500;

export const statementQuerySchema = z.strictObject({
  from: isoDate.describe('First effective date, inclusive'),
  to: isoDate.describe('Last effective date, inclusive'),
  cursor: z.string().regex(/^[0-9]{1,18}$/, 'a cursor from a previous page').optional(),
  limit: z.coerce.number().int().min(1).max(STATEMENT_LIMIT_MAX).default(100),
});

export const wireEntrySchema = z
  .object({ debit: z.string(), credit: z.string(), asset: z.string(), amount: z.string().describe("Decimal string in the asset's units") })
  .meta({ id: 'Entry', description: 'One debit and one credit of the same amount of one asset between two accounts' });

const partySchema = z.object({ memberId: z.string(), potId: z.string() });

const rebalanceLegSchema = z
  .discriminatedUnion('side', [
    z.object({ side: z.literal('sell'), fund: z.string(), units: z.string(), value: z.string() }),
    z.object({
      side: z.literal('buy'),
      fund: z.string(),
      amount: z.string(),
      funding: z.literal('proceeds').optional().describe('Bought out of the proceeds of the sales (a switch)'),
    }),
  ])
  .meta({ id: 'RebalanceLeg', description: 'One order a re-balance places' });

/** The change of a pot's lifecycle a movement carries (src/ledger/movement.ts `PotChange`), by `type`. */
export const potChangeSchema = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('open'), memberId: z.string(), profile: z.string().optional() }),
    z.object({ type: z.literal('close') }),
    z.object({ type: z.literal('profile'), profile: z.string() }),
    z.object({ type: z.literal('rebalance'), date: z.string(), legs: z.array(rebalanceLegSchema).readonly() }),
    z.object({
      type: z.literal('hold'),
      holdId: z.string(),
      payee: partySchema.optional().describe('Whose pot the cash is held for; left out for a member key'),
      currency: z.string(),
      amountMinor: z.string(),
      expiresAt: z.string(),
    }),
    z.object({ type: z.literal('hold-end'), holdId: z.string(), ending: z.enum(['posted', 'voided', 'expired']) }),
  ])
  .meta({ id: 'PotChange', description: "What the movement changed of the pot besides balances, by type; for a member key, a hold's payee is left out" });

/** The change to one of the pot's orders a movement carries (src/ledger/orders.ts `OrderChange`), by `type`. */
export const orderChangeSchema = z
  .discriminatedUnion('type', [
    z.object({
      type: z.literal('place'),
      orderId: z.string(),
      fund: z.string(),
      currency: z.string(),
      side: z.enum(['buy', 'sell']),
      amountMinor: z.string(),
      dealingDate: z.string(),
      funding: z.literal('proceeds').optional(),
    }),
    z.object({ type: z.literal('cancel'), orderId: z.string() }),
    z.object({ type: z.literal('allocate'), orderId: z.string(), tradeId: z.string(), filledMinor: z.string(), unitsMinor: z.string(), cashMinor: z.string() }),
    z.object({ type: z.literal('settle'), orderId: z.string(), tradeId: z.string() }),
  ])
  .meta({ id: 'OrderChange', description: "The change to one of the pot's orders the movement carries, by type" });

const movementDraftFields = {
  entries: z.array(wireEntrySchema).readonly(),
  potChange: potChangeSchema.optional(),
  orderChange: orderChangeSchema.optional(),
  reverses: z.string().optional().describe('The movement this one undoes'),
};

export const movementDraftSchema = z
  .object(movementDraftFields)
  .meta({ id: 'MovementDraft', description: 'What a process planned, before the ledger corrected it' });

export const wireMovementSchema = z
  .object({
    movementId: z.string(),
    commandId: z.string(),
    process: z.string(),
    processVersion: z.number().int(),
    memberId: z.string(),
    potId: z.string(),
    partition: z.number().int(),
    effectiveDate: z.string(),
    ...movementDraftFields,
  })
  .meta({ id: 'Movement', description: 'The entries of one command, committed atomically' });

/** Machine-readable detail of a rejection: field paths, the asset or amount concerned, the problems found. */
const rejectionDetailsSchema = z.record(z.string(), z.union([z.string(), z.array(z.string()).readonly()]));
export type RejectionDetails = z.output<typeof rejectionDetailsSchema>;

export const appliedOutcomeSchema = z
  .object({ kind: z.literal('applied'), movement: wireMovementSchema })
  .meta({ id: 'AppliedOutcome', description: 'The command was applied as planned' });

export const correctedOutcomeSchema = z
  .object({
    kind: z.literal('corrected'),
    movement: wireMovementSchema,
    original: movementDraftSchema,
    violations: z.array(z.string()).readonly().describe('The invariants the original would have broken'),
  })
  .meta({ id: 'CorrectedOutcome', description: "The process's own correction rewrote the movement so every invariant holds" });

export const rejectedOutcomeSchema = z
  .object({
    kind: z.literal('rejected'),
    code: z.enum(RejectionCode).describe('Stable machine-readable code'),
    reason: z.string(),
    details: rejectionDetailsSchema.optional(),
  })
  .meta({ id: 'RejectedOutcome', description: 'The ledger refused the command; nothing changed' });

/** A command's recorded outcome, by `kind`: what the ledger did with it. */
export const outcomeSchema = z
  .discriminatedUnion('kind', [appliedOutcomeSchema, correctedOutcomeSchema, rejectedOutcomeSchema])
  .meta({
    id: 'Outcome',
    description: 'applied or corrected (with the movement), or rejected (with a code and a reason)',
    discriminator: {
      propertyName: 'kind',
      mapping: { applied: '#/components/schemas/AppliedOutcome', corrected: '#/components/schemas/CorrectedOutcome', rejected: '#/components/schemas/RejectedOutcome' },
    },
  });
export type ApiOutcome = z.output<typeof outcomeSchema>;

/**
 * The ledger's wire outcome as the API declares it. The ledger types a rejection's details as any JSON;
 * the API promises strings and lists of strings (all the ledger writes today): anything else is written
 * as its JSON text, so the promise holds.
 */
export function outcomeOfWire(outcome: WireOutcome): ApiOutcome {
  if (outcome.kind !== 'rejected') return outcome;
  if (outcome.details === undefined) return { kind: outcome.kind, code: outcome.code, reason: outcome.reason };
  const details: RejectionDetails = {};
  for (const [key, value] of Object.entries(outcome.details)) details[key] = isTextOrTexts(value) ? value : JSON.stringify(value);
  return { ...outcome, details };
}

function isTextOrTexts(value: unknown): value is string | readonly string[] {
  return typeof value === 'string' || (Array.isArray(value) && value.every((item) => typeof item === 'string'));
}

export const statementSchema = z
  .object({
    potId: z.string(),
    from: z.string(),
    to: z.string(),
    lines: z.array(z.object({ seq: z.string(), committedAt: z.string(), corrected: z.boolean(), movement: wireMovementSchema })).readonly(),
    nextCursor: z.string().optional().describe('Pass as cursor for the next page; absent on the last page'),
  })
  .meta({ id: 'Statement' });

export const movementDetailSchema = z
  .object({
    seq: z.string(),
    committedAt: z.string(),
    corrected: z.boolean(),
    movement: wireMovementSchema,
    postings: z.array(
      z.object({
        entryIndex: z.number().int(),
        side: z.enum(['debit', 'credit']),
        account: z.string(),
        asset: z.string(),
        amount: z.string(),
        balanceAfter: z.string().optional().describe("The account's balance after the posting; absent for a member key on an account not its own pot's (a system account)"),
        accountVersion: z.string().optional().describe("The account's version after the posting; absent where balanceAfter is"),
      }),
    ).readonly(),
    orderId: z.string().optional().describe('The order this movement changed (placed, cancelled, allocated or settled), when it changed one'),
  })
  .meta({ id: 'MovementDetail' });

export const balanceSheetSchema = z
  .object({
    lines: z.array(z.object({ kind: z.string(), owner: z.enum(['pot', 'system']), asset: z.string(), total: z.string() })).readonly(),
    netByAsset: z.record(z.string(), z.string()).describe('Per asset, the sum over every kind: zero when the books balance'),
  })
  .meta({ id: 'BalanceSheet' });

export const commandStateSchema = z
  .object({
    commandId: z.string(),
    process: z.string().optional(),
    status: z.enum(['accepted', 'pending', 'applied', 'corrected', 'rejected']),
    outcome: outcomeSchema.optional(),
    recordedAt: z.string().optional(),
  })
  .meta({ id: 'CommandState' });
