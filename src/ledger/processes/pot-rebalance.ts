import { z } from 'zod';
import { potAccount } from '../accounts.js';
import { reject, RejectionCode } from '../errors.js';
import { balanceOf } from '../movement.js';
import { defineProcess, isoDate } from '../process.js';
import { profileProblems, readPrices, rebalanceDecision, riskProfileSchema } from '../profiles.js';

export const potRebalance = defineProcess({
  name: 'pot.rebalance',
  version: 1,
  describe:
    "Re-balances the pot for a business day at that day's closing prices: computes each fund's drift against the pot's risk " +
    "profile and, beyond the band, decides the sells of what is overweight and the buys of what is underweight with the cash " +
    "available, then with the sales' proceeds (switch legs, placed once the sales are priced; legs under the minimum skipped). " +
    "Once per pot and day; deferred while the pot has orders in flight. The orders are placed by their own commands.",
  payload: z.strictObject({
    date: isoDate,
    profile: riskProfileSchema,
    prices: z
      .record(z.string().regex(/^[A-Z][A-Z0-9-]{0,31}$/), z.string().max(30))
      .meta({ domain: 'prices', description: "The day's closing price of each fund, by fund code." }),
  }),
  plan: ({ command, payload, pot, balances, ctx }) => {
    if (pot?.profile === undefined) return reject(RejectionCode.notDealable, `pot ${command.potId} follows no risk profile`);
    if (pot.profile !== payload.profile.id) return reject(RejectionCode.invalidPayload, `pot ${command.potId} follows ${pot.profile}, not ${payload.profile.id}`);
    if (pot.rebalancedOn !== undefined && pot.rebalancedOn >= payload.date) {
      return reject(RejectionCode.orderStateMismatch, `pot ${command.potId} was re-balanced for ${pot.rebalancedOn} already`);
    }
    const problems = profileProblems(payload.profile, ctx.assets);
    if (problems.length > 0) return reject(RejectionCode.invalidPayload, `profile ${payload.profile.id}: ${problems.join('; ')}`);
    const prices = readPrices(payload.prices);
    if (typeof prices === 'string') return reject(RejectionCode.invalidAmount, prices);
    const missing = payload.profile.targets.map((t) => t.fund).filter((fund) => !prices.has(fund));
    if (missing.length > 0) return reject(RejectionCode.invalidPayload, `no price for ${missing.join(', ')}`);
    const inFlight = [...balances].some(([account, balance]) => balance !== 0n && account.startsWith(`pot:${command.potId}:`) && /:(cash|units|cash\.pending)\.reserved:/.test(account));
    if (inFlight || balanceOf(balances, potAccount(command.potId, 'cash.reserved', payload.profile.currency)) > 0n) {
      return reject(RejectionCode.orderStateMismatch, `pot ${command.potId} has orders in flight; it is re-balanced once they have dealt`);
    }
    const decision = rebalanceDecision(payload.profile, command.potId, balances, prices, ctx.assets);
    return { entries: [], potChange: { type: 'rebalance', date: payload.date, legs: decision.kind === 'trade' ? decision.legs : [] } };
  },
});
