import { z } from 'zod';
import { COMMAND_ID, isoDate, MEMBER_ID, POT_ID, RejectionCode, type WireOutcome } from '../ledger/index.js';

/**
 * The API's zod schemas: the single source of its request and response types and of the OpenAPI
 * document. Text fields refuse control characters (a NUL would otherwise reach Postgres, which refuses
 * it, as a server error).
 */
const CONTROL = /[\u0000-\u001f\u007f]/;

export function text(max: number) {
  return z
    .string()
    .min(1)
    .max(max)
    .refine((value) => !CONTROL.test(value), 'must not contain control characters');
}

/** A date Postgres can hold: year 0000 passes the ISO format but not a `date` column. */
export const memberIdSchema = z.string().regex(MEMBER_ID, 'letters, digits, _ and - only, 1 to 64 characters');
export const potIdSchema = z.string().regex(POT_ID, 'letters, digits, _ and - only, 1 to 64 characters');
export const commandIdSchema = z.string().regex(COMMAND_ID, 'letters, digits and _.:- only, 1 to 128 characters');
export const movementIdSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'letters, digits and _.:- only, 1 to 128 characters');
export const riskProfileSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'lower-case letters, digits and -, 1 to 40 characters');

/** The Idempotency-Key header: what makes a retried request the same request. */
export const idempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .regex(/^[\x21-\x7e]{1,128}$/, 'printable ASCII without spaces, 1 to 128 characters')
    .describe('Chosen by the caller; a retry with the same key and body gets the first answer'),
});

export const memberFieldsSchema = z.strictObject({
  name: text(200),
  email: z.email().max(254),
  address: text(500),
  riskProfile: riskProfileSchema,
});

export const memberCreateSchema = memberFieldsSchema.extend({
  memberId: memberIdSchema.optional().describe('Assigned when absent'),
});

export const memberUpdateSchema = memberFieldsSchema
  .partial()
  .refine((fields) => Object.keys(fields).length > 0, 'name at least one field to change');

export const memberSchema = z
  .object({
    memberId: z.string(),
    name: z.string().optional(),
    email: z.string().optional(),
    address: z.string().optional(),
    riskProfile: z.string(),
    version: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
    erasedAt: z.string().optional().describe('Set once the personal data was erased'),
  })
  .meta({ id: 'Member' });

export const potSchema = z
  .object({ potId: z.string(), memberId: z.string(), partition: z.number().int(), status: z.enum(['open', 'closed']) })
  .meta({ id: 'Pot' });

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
    z.object({ side: z.literal('buy'), fund: z.string(), amount: z.string(), funding: z.literal('proceeds').optional().describe('Bought out of the proceeds of the sales (a switch)') }),
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

export const waitQuerySchema = z.strictObject({
  wait: z.enum(['true', 'false']).default('false').describe('true: answer once the outcome is committed'),
});

export const idParams = <K extends string>(key: K, schema: z.ZodString) => z.strictObject({ [key]: schema } as { [P in K]: z.ZodString });

/** The most prices one request loads (a CSV body is bounded by its size instead). */
export const PRICES_PER_REQUEST_MAX = 10_000;

/** Strings here are checked by the price loader, which answers each bad row with its position. */
const priceFieldSchema = z.string().max(64);

export const pricesLoadSchema = z.strictObject({
  prices: z
    .array(z.strictObject({ fund: priceFieldSchema, date: priceFieldSchema, price: priceFieldSchema }))
    .min(1)
    .max(PRICES_PER_REQUEST_MAX)
    .describe('Closing prices, all loaded or none: a fund that deals, a business day of its calendar (YYYY-MM-DD), an exact decimal of at most 8 places'),
});

export const pricesCsvSchema = z.string().describe('A CSV file: the header fund,date,price, then one price per line (see docs/DEALING.md)');

export const pricesLoadedSchema = z
  .object({
    inserted: z.number().int().describe('Prices stored now'),
    unchanged: z.number().int().describe('Prices stored before with the same value (a repeated load)'),
  })
  .meta({ id: 'PricesLoaded' });

export const pricesOnSchema = z
  .object({ date: z.string(), prices: z.array(z.object({ fund: z.string(), price: z.string() })).readonly() })
  .meta({ id: 'PricesOn' });

export const tradeIdSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'letters, digits and _.:- only, 1 to 128 characters');

const tracedMovementSchema = z
  .object({
    seq: z.string(),
    movementId: z.string(),
    commandId: z.string(),
    process: z.string(),
    potId: z.string(),
    effectiveDate: z.string(),
    committedAt: z.string(),
    change: z.string().optional().describe("What it did to the order: place, cancel, allocate or settle"),
    entries: z.array(wireEntrySchema).readonly(),
  })
  .meta({ id: 'TracedMovement' });

const orderAllocationSchema = z.object({
  filled: z.string().describe('The part of the order the trade filled: cash for a buy, units for a sell'),
  units: z.string().describe('Units bought or sold'),
  cash: z.string().describe('Cash paid or received'),
});

export const orderSchema = z
  .object({
    orderId: z.string(),
    potId: z.string(),
    memberId: z.string(),
    fund: z.string(),
    currency: z.string(),
    side: z.enum(['buy', 'sell']),
    amount: z.string().describe('A buy: the cash to invest. A sell: the units to sell'),
    dealingDate: z.string(),
    status: z.enum(['open', 'aggregated', 'allocated', 'settled', 'cancelled']),
    tradeId: z.string().optional(),
    allocation: orderAllocationSchema.optional(),
    placedMovementId: z.string(),
    lastMovementId: z.string(),
  })
  .meta({ id: 'Order' });

export const tradeSchema = z
  .object({
    tradeId: z.string(),
    fund: z.string(),
    currency: z.string(),
    dealingDate: z.string(),
    settlementDate: z.string(),
    status: z.enum(['placed', 'priced', 'settled', 'rejected']),
    price: z.string().optional(),
    orders: z.number().int().optional().describe("Absent for a member key: the trade's totals are other members' orders too"),
    buyCash: z.string().optional(),
    sellUnits: z.string().optional(),
    execution: z
      .object({
        buyCashFilled: z.string(),
        sellUnitsFilled: z.string(),
        buyUnitsExecuted: z.string(),
        sellProceedsExecuted: z.string(),
        residueUnits: z.string(),
        residueCash: z.string(),
      })
      .optional()
      .describe('What the custodian did, once priced or rejected'),
    placedAt: z.string().optional(),
    pricedAt: z.string().optional(),
    settledAt: z.string().optional(),
  })
  .meta({ id: 'Trade' });

export const orderTraceSchema = z
  .object({
    order: orderSchema,
    movements: z.array(tracedMovementSchema).readonly().describe("Every movement that changed the order, in commit order"),
    trade: tradeSchema.optional(),
    closingPrice: z.object({ fund: z.string(), date: z.string(), price: z.string().optional() }).describe("The fund's closing price of the dealing day (the trade's, once aggregated)"),
  })
  .meta({ id: 'OrderTrace' });

const legTotalsSchema = z.object({
  executed: z.string(),
  allocated: z.string(),
  residue: z.string(),
  balanced: z.boolean().describe('allocated + residue = executed'),
});

export const tradeTraceSchema = z
  .object({
    trade: tradeSchema,
    orders: z
      .array(
        z.object({
          orderId: z.string(),
          potId: z.string(),
          memberId: z.string(),
          side: z.enum(['buy', 'sell']),
          amount: z.string(),
          status: z.enum(['open', 'aggregated', 'allocated', 'settled', 'cancelled']).optional(),
          allocation: orderAllocationSchema.optional(),
        }),
      )
      .readonly()
      .describe('The allocation basis as recorded at the cut-off, with each order as it stands'),
    nextCursor: z.string().optional().describe('Pass as cursor for the next page of orders; absent on the last page'),
    residue: z.array(tracedMovementSchema).readonly().describe("The residue's movements in ACME's rounding pot"),
    totals: z
      .object({ units: legTotalsSchema.describe('The buy leg, in units'), cash: legTotalsSchema.describe('The sell leg, in cash') })
      .optional()
      .describe('Once executed: allocated + residue = executed, per leg'),
  })
  .meta({ id: 'TradeTrace' });
