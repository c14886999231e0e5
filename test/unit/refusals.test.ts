import { describe, expect, it } from 'vitest';
import { nextRefusal, storageRejection } from '../../src/shards/refusals.js';

/** A pg error as the driver raises it: a message and the SQLSTATE in `code`. */
function pgError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('a message the journal refuses', () => {
  it('is answered with a rejection naming the SQLSTATE the first time, and is poison only once the rejection was refused too', () => {
    const first = nextRefusal(pgError('22009', 'time zone displacement out of range'), undefined);
    expect(first).toEqual({ sqlState: '22009', message: 'time zone displacement out of range', answer: 'rejection' });
    expect(storageRejection(first)).toEqual({
      kind: 'rejected',
      code: 'LEDGER_ERR_STORAGE_REFUSED',
      reason: 'the journal refused to store it (SQLSTATE 22009): time zone displacement out of range',
      details: { sqlState: '22009' },
    });
    expect(nextRefusal(pgError('22P05', 'unsupported Unicode escape sequence'), first)).toMatchObject({ sqlState: '22P05', answer: 'poison-only' });
  });
});
