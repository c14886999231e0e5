import { z } from 'zod';
import { potAccount, systemAccount } from '../accounts.js';
import { parseAmount } from '../decimal.js';
import { isRejection, reject, RejectionCode, type Rejection } from '../errors.js';
import type { Entry } from '../movement.js';
import { amountText, fundCode, readDealing, tradeIdText } from '../payload.js';
import { defineProcess, type PlanInput } from '../process.js';

const payload = z.strictObject({ tradeId: tradeIdText, fund: fundCode, units: amountText, cash: amountText });

/** The rounding residue of a trade, pending (`trade.residue`) or settled (`trade.settle-residue`), in ACME's pot. */
function residueEntries(input: PlanInput<z.output<typeof payload>>, settle: boolean): Entry[] | Rejection {
  const fund = readDealing(input.ctx.assets, input.payload.fund);
  if (isRejection(fund)) return fund;
  const currency = input.ctx.assets.find(fund.dealing.currency);
  if (currency === undefined) return reject(RejectionCode.unknownAsset, `unknown asset ${fund.dealing.currency}`);
  const units = parseAmount(input.payload.units, fund.asset.scale, { zero: true });
  const cash = parseAmount(input.payload.cash, currency.scale, { zero: true });
  if (!units.ok || !cash.ok) return reject(RejectionCode.invalidAmount, `residue: ${units.ok ? '' : units.reason} ${cash.ok ? '' : cash.reason}`.trim());
  const pot = (kind: string, asset: string) => potAccount(input.command.potId, kind, asset);
  const system = (kind: string, asset: string) => systemAccount(input.partition, kind, asset);
  const f = fund.asset.code;
  const c = currency.code;
  const entries: Entry[] = [];
  const add = (debit: string, credit: string, asset: string, amountMinor: bigint) => {
    if (amountMinor > 0n) entries.push({ debit, credit, asset, amountMinor });
  };
  if (settle) {
    add(pot('units', f), pot('units.pending', f), f, units.value);
    add(system('custodian.pending', f), system('custodian.units', f), f, units.value);
    add(pot('cash', c), pot('cash.pending', c), c, cash.value);
    add(system('dealing.cash', c), system('external.bank', c), c, cash.value);
  } else {
    add(pot('units.pending', f), system('custodian.pending', f), f, units.value);
    add(pot('cash.pending', c), system('dealing.cash', c), c, cash.value);
  }
  if (entries.length === 0) return reject(RejectionCode.invalidAmount, 'a residue of nothing needs no movement');
  return entries;
}

export const tradeResidue = defineProcess({
  name: 'trade.residue',
  version: 1,
  drivenBy: 'the dealing desk',
  describe:
    "Books a priced trade's rounding residue in ACME's rounding pot: the executed units no " +
    "buyer got (each buyer's units are rounded down) become pending units, the executed " +
    "proceeds no seller got become pending cash, so allocated + residue = executed exactly.",
  payload,
  plan: (input) => {
    const entries = residueEntries(input, false);
    return isRejection(entries) ? entries : { entries };
  },
});

export const tradeSettleResidue = defineProcess({
  name: 'trade.settle-residue',
  version: 1,
  drivenBy: 'the dealing desk',
  describe: "Settles a trade's rounding residue in ACME's rounding pot when the trade settles (T+N), like an order's settlement.",
  payload,
  plan: (input) => {
    const entries = residueEntries(input, true);
    return isRejection(entries) ? entries : { entries };
  },
});
