import { z } from 'zod';
import { wireEntrySchema } from './ledger.js';

/** The dealing cycle's schemas: closing prices in and out, orders, external trades and their traces. */

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
    closingPrice: z
      .object({ fund: z.string(), date: z.string(), price: z.string().optional() })
      .describe("The fund's closing price of the dealing day (the trade's, once aggregated)"),
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
