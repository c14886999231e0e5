import { processRegistry } from '../registry.js';
import { cashDeposit } from './cash-deposit.js';
import { cashTransfer } from './cash-transfer.js';
import { cashWithdraw } from './cash-withdraw.js';
import { chargeAssess } from './charge-assess.js';
import { chargeRepay } from './charge-repay.js';
import { holdExpire, holdPlace, holdPost, holdVoid } from './holds.js';
import { movementReverse } from './movement-reverse.js';
import { orderAllocate } from './order-allocate.js';
import { orderBuy } from './order-buy.js';
import { orderCancel } from './order-cancel.js';
import { orderSell } from './order-sell.js';
import { orderSettle } from './order-settle.js';
import { fxConvert, paymentCredit, paymentRefund, paymentSend } from './payments.js';
import { poolDistribute, poolRedeem, poolSubscribe, poolSubscriptionRefund } from './pools.js';
import { potClose } from './pot-close.js';
import { potImport } from './pot-import.js';
import { potOpen } from './pot-open.js';
import { potRebalance } from './pot-rebalance.js';
import { potSetProfile } from './pot-set-profile.js';
import { tradeResidue, tradeSettleResidue } from './trade-residue.js';

/** Every process of the ledger. Adding a process: one file in this folder and one line here. */
export const PROCESSES = [
  potOpen,
  potClose,
  cashDeposit,
  cashWithdraw,
  cashTransfer,
  movementReverse,
  chargeAssess,
  chargeRepay,
  potImport,
  potSetProfile,
  potRebalance,
  orderBuy,
  orderSell,
  orderCancel,
  orderAllocate,
  orderSettle,
  tradeResidue,
  tradeSettleResidue,
  paymentSend,
  paymentCredit,
  paymentRefund,
  holdPlace,
  holdPost,
  holdVoid,
  holdExpire,
  fxConvert,
  poolSubscribe,
  poolSubscriptionRefund,
  poolRedeem,
  poolDistribute,
] as const;

export const ledgerProcesses = processRegistry(PROCESSES);
