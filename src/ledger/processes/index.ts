import { processRegistry } from '../registry.js';
import { cashDeposit } from './cash-deposit.js';
import { cashTransfer } from './cash-transfer.js';
import { cashWithdraw } from './cash-withdraw.js';
import { chargeAssess } from './charge-assess.js';
import { chargeRepay } from './charge-repay.js';
import { movementReverse } from './movement-reverse.js';
import { potClose } from './pot-close.js';
import { potOpen } from './pot-open.js';

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
] as const;

export const ledgerProcesses = processRegistry(PROCESSES);
