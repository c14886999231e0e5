import { z } from 'zod';

/**
 * What passes between the Trust and its custodian, as JSON with amounts as decimal strings. A real
 * custodian integration maps its own protocol onto these; the simulator speaks them over NATS.
 */
const decimal = z.string().regex(/^(0|[1-9][0-9]*)(\.[0-9]+)?$/, 'a decimal string');
const date = z.iso.date();

/** One external trade for one fund and dealing day, both legs gross; the custodian nets them once priced. */
export const tradeInstructionSchema = z.strictObject({
  tradeId: z.string().min(1).max(128),
  fund: z.string().min(1).max(32),
  currency: z.string().length(3),
  dealingDate: date,
  settlementDate: date,
  /** Cash to invest (the buy leg). */
  buyCash: decimal,
  /** Units to sell (the sell leg). */
  sellUnits: decimal,
});
export type TradeInstruction = z.infer<typeof tradeInstructionSchema>;

export const custodianReportSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('priced'),
    tradeId: z.string().min(1).max(128),
    /** The closing price of the dealing day, at most 8 decimals. */
    price: decimal,
    /** How much of each leg was dealt: all of it unless partly filled. */
    buyCashFilled: decimal,
    sellUnitsFilled: decimal,
  }),
  z.strictObject({ kind: z.literal('rejected'), tradeId: z.string().min(1).max(128), reason: z.string().max(500) }),
  z.strictObject({ kind: z.literal('settled'), tradeId: z.string().min(1).max(128), settlementDate: date }),
]);
export type CustodianReport = z.infer<typeof custodianReportSchema>;

/**
 * The custodian as the dealing desk sees it. `placeTrade` is idempotent by trade id; every report is
 * delivered at least once until acknowledged, so the desk must (and does) treat a repeat as a no-op.
 */
export interface CustodianAdapter {
  placeTrade(instruction: TradeInstruction): Promise<void>;
  /**
   * The custodian's reports, each redelivered until acknowledged; `working` tells the link that a
   * report is still being handled, so that a long fan-out is not redelivered while it runs.
   */
  reports(): AsyncIterable<{ readonly report: CustodianReport; ack(): void; working(): void }>;
  close(): Promise<void>;
}
