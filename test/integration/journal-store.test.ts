import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, inTransaction, type Queryable } from '../../src/journal/database.js';
import { commitItems, type CommitItem } from '../../src/journal/store.js';
import { assetCatalog, DEFAULT_ASSETS, reject, RejectionCode } from '../../src/ledger/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

/*
 * Two assumptions of the journal's plumbing that Postgres does not promise: that the outbox sequence
 * numbers of a commit come back in the order of its items, and that a client whose server process died
 * is fit to go back into the pool.
 */

const assets = assetCatalog(DEFAULT_ASSETS);
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('journalstore');
});
afterAll(async () => {
  await db?.drop();
});

function rejectedItem(commandId: string): CommitItem {
  return {
    command: { commandId, process: 'cash.deposit', memberId: 'M-1', potId: 'P-1', payload: {}, effectiveDate: '2026-11-22', producedAt: '2026-11-22T09:00:00Z' },
    fingerprint: `fingerprint-${commandId}`,
    partition: 0,
    outcome: reject(RejectionCode.invalidPayload, 'a test rejection'),
    postings: [],
  };
}

/**
 * A client that runs the outcome insert the way Postgres may: identity values handed out in another
 * order than the items' (the rows inserted last first) and RETURNING rows in yet another (reversed).
 * Every other statement runs as written.
 */
function reorderingOutcomes(client: pg.PoolClient): Queryable {
  const query = async (config: pg.QueryConfig) => {
    if (typeof config !== 'object' || config.name !== 'potledger-insert-outcomes') throw new Error('only the outcome insert is expected here');
    const text = config.text.replace('ORDER BY o.ordinal', 'ORDER BY o.ordinal DESC');
    if (text === config.text) throw new Error('the outcome insert no longer orders by ordinal: update this test');
    const result = await client.query<pg.QueryResultRow>({ text, values: config.values ?? [] });
    return { ...result, rows: [...result.rows].reverse() };
  };
  return { query } as unknown as Queryable;
}

describe('outcome sequence numbers', () => {
  it('go to the command they were given to, whatever order Postgres hands them out and returns them in', async () => {
    const items = ['seq-a', 'seq-b', 'seq-c', 'seq-d', 'seq-e'].map(rejectedItem);
    const seqs = await inTransaction(db.service, async (client) => commitItems(reorderingOutcomes(client), items, assets));
    const { rows } = await db.owner.query<{ command_id: string; seq: bigint }>('SELECT command_id, seq FROM command_outcomes WHERE command_id = ANY($1::text[])', [
      items.map((item) => item.command.commandId),
    ]);
    const stored = new Map(rows.map((row) => [row.command_id, row.seq]));
    expect(items.map((item, index) => ({ commandId: item.command.commandId, returned: seqs[index] }))).toEqual(
      items.map((item) => ({ commandId: item.command.commandId, returned: stored.get(item.command.commandId) })),
    );
  });
});

/** Holds the event loop: nothing is read from any socket meanwhile. */
function blockEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy: the point is that no I/O callback runs
  }
}

/** How long the server waits before it ends the connection, and how long the test holds the event loop meanwhile. */
const KILL_DELAY_SECONDS = 0.05;
const HOLD_MS = 1000;
/** pg_terminate_backend returns only once the server process has exited (or after this long). */
const KILL_WAIT_MS = 5000;

describe('a connection killed inside a transaction', () => {
  it('is not handed out again by the pool', async () => {
    const pool = createPool(db.serviceUrl, { max: 1, applicationName: 'potledger-test-killed' });
    const killer = await db.owner.connect();
    try {
      const backend = async (): Promise<number> => (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid ?? -1;
      const victim = await backend();
      // The server ends the transaction's connection (pg_terminate_backend) while the work holds the
      // event loop, so the server's last words (FATAL, then end of stream) are read only once the
      // work has failed and the ROLLBACK is on its way: they arrive as the ROLLBACK's error, and the
      // client still looks fit to the pool.
      const kill = killer.query<{ killed: boolean }>('SELECT pg_sleep($2), pg_terminate_backend($1, $3) AS killed', [victim, KILL_DELAY_SECONDS, KILL_WAIT_MS]);
      const failure = await inTransaction(pool, () => {
        blockEventLoop(HOLD_MS);
        return Promise.reject(new Error('the work failed'));
      }).catch((error: unknown) => error);
      expect(failure).toEqual(new Error('the work failed'));
      expect((await kill).rows[0]?.killed).toBe(true);
      // The pool's only client slot must hold a live connection: a new server process, not the dead one.
      const next = await backend();
      expect(next).not.toBe(victim);
    } finally {
      killer.release();
      await pool.end();
    }
  });
});
