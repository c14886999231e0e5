import type pg from 'pg';
import type { AssetCatalog } from '../ledger/index.js';
import { readHold, type HoldView } from '../payments/holds.js';
import type { LedgerPublisher } from '../sdk/publisher.js';
import { notFound, ProblemCode, ProblemError } from './problems.js';
import { outcomeOfWire } from './schemas/index.js';

/**
 * The hold routes' service: places and voids holds through the ledger's own commands (`hold.place`,
 * `hold.void`, ids `hold:<id>:place|void`), waits for each outcome, and reads the hold back. A hold's
 * post is a payment (the payments desk's `postHold`); `whyNotPosted` says why a post found no open hold.
 */
export class HoldCommands {
  constructor(
    private readonly options: { readonly pool: pg.Pool; readonly publisher: LedgerPublisher | undefined; readonly assets: AssetCatalog; readonly waitTimeoutMs: number },
  ) {}

  read(holdId: string): Promise<HoldView | undefined> {
    return readHold(this.options.pool, this.options.assets, holdId);
  }

  /** Places a hold (idempotent by holdId) and answers it open; a ledger rejection is a 422 with the recorded outcome. */
  async place(
    request: {
      readonly holdId: string;
      readonly payer: { memberId: string; potId: string };
      readonly payee: { memberId: string; potId: string };
      readonly amount: string;
      readonly currency: string;
      readonly expiresAt: string;
    },
    keyId: string,
  ): Promise<HoldView> {
    const { holdId, payer, payee, amount, currency, expiresAt } = request;
    await this.#command('hold.place', `hold:${holdId}:place`, payer, { holdId, payee, amount, currency, expiresAt }, keyId);
    return this.#readBack(holdId);
  }

  /** Voids an open hold: 404 when there is none, 409 when it is no longer open. */
  async void(holdId: string, keyId: string): Promise<HoldView> {
    const hold = await this.read(holdId);
    if (hold === undefined) throw notFound(`hold ${holdId}`);
    if (hold.status !== 'open' || hold.payer === undefined) throw notOpen(holdId, hold.status);
    await this.#command('hold.void', `hold:${holdId}:void`, hold.payer, { holdId }, keyId);
    return this.#readBack(holdId);
  }

  /** Why a post found no open hold to post: there is none (404), or it is no longer open (409). */
  async whyNotPosted(holdId: string): Promise<never> {
    const hold = await this.read(holdId);
    if (hold === undefined) throw notFound(`hold ${holdId}`);
    throw notOpen(holdId, hold.status);
  }

  /** A hold a command of this request has just changed. */
  async #readBack(holdId: string): Promise<HoldView> {
    const hold = await this.read(holdId);
    if (hold === undefined) throw new Error(`hold ${holdId} was changed and cannot be read back`);
    return hold;
  }

  /** Sends a hold command and waits for its outcome: a rejection is a 422 with the recorded outcome. */
  async #command(process: string, commandId: string, pot: { memberId: string; potId: string }, payload: unknown, keyId: string): Promise<void> {
    const publisher = this.options.publisher;
    if (publisher === undefined) throw new ProblemError(503, ProblemCode.unavailable, 'this process does not publish commands');
    const sent = await publisher.submit(process, { commandId, ...pot, payload, principal: `key:${keyId}`, source: 'api' });
    const notice = await sent.outcome(this.options.waitTimeoutMs);
    if (notice.status === 'conflict') throw new ProblemError(409, ProblemCode.commandIdConflict, `${commandId} was used by another request`);
    const outcome = notice.outcome;
    if (outcome.kind === 'rejected') {
      const extra = { detail: outcome.reason, commandId, outcome: outcomeOfWire(outcome) };
      throw new ProblemError(422, ProblemCode.rejectedByLedger, `the ledger rejected the command: ${outcome.code}`, extra);
    }
  }
}

function notOpen(holdId: string, status: string): ProblemError {
  return new ProblemError(409, ProblemCode.holdNotOpen, `hold ${holdId} is ${status}, not open`);
}
