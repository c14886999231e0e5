import { z } from 'zod';
import { reject, RejectionCode } from '../errors.js';
import { movementIdText } from '../payload.js';
import { defineProcess } from '../process.js';

export const movementReverse = defineProcess({
  name: 'movement.reverse',
  version: 1,
  describe:
    'A new movement that undoes an earlier movement of the same pot, entry by entry, and references it. A ' +
    'movement is reversed at most once; reversals and pot lifecycle movements cannot be reversed.',
  payload: z.strictObject({ movementId: movementIdText }),
  loads: ({ movementId }) => ({ movementIds: [movementId] }),
  plan: ({ command, payload, movements }) => {
    const loaded = movements.get(payload.movementId);
    if (loaded === undefined || loaded.movement.potId !== command.potId) {
      return reject(RejectionCode.movementNotFound, `pot ${command.potId} has no movement ${payload.movementId}`);
    }
    const { movement, reversedBy } = loaded;
    if (reversedBy !== undefined) {
      return reject(RejectionCode.movementNotReversible, `movement ${movement.movementId} was reversed already by ${reversedBy}`);
    }
    if (movement.reverses !== undefined) {
      return reject(RejectionCode.movementNotReversible, `movement ${movement.movementId} is itself a reversal`);
    }
    if (movement.potChange !== undefined) {
      return reject(RejectionCode.movementNotReversible, `movement ${movement.movementId} changed the pot's lifecycle`);
    }
    const entries = [...movement.entries]
      .reverse()
      .map(({ debit, credit, asset, amountMinor }) => ({ debit: credit, credit: debit, asset, amountMinor }));
    return { entries, reverses: movement.movementId };
  },
});
