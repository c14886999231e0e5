/**
 * The commit of a batch of items in the caller's transaction: asserts the batch (commit-assertions.ts),
 * then writes movements with their hash chain, balance snapshots (checked against the journal),
 * entries, partition totals, pots, orders and the outcomes, with batched inserts.
 */
import { canonicalJson, RejectionCode, type AssetCatalog } from '../ledger/index.js';
import { chain, latestHashes } from './chain.js';
import { addToPartitionTotals, writeBalances } from './commit-balances.js';
import { assertCommitItems } from './commit-assertions.js';
import { writeOrders } from './commit-orders.js';
import { writePots } from './commit-pots.js';
import { COMMIT_BATCH_MAX, entryRows, movementOf, type CommitItem } from './commit-rows.js';
import { prepared, storableText, type Queryable } from './database.js';
import { storedDetailOf } from './stored-outcomes.js';

/**
 * Writes a batch of outcomes in the caller's transaction: movements, entries, balance snapshots, pots
 * and the idempotency records, with batched inserts. Items are in commit order; a later item may read
 * what an earlier one wrote (balances are taken from the last posting of each account).
 *
 * Contract: the caller holds the partitions involved. Before anything is written, every movement must
 * balance per asset and each account's postings must follow one another; the balance snapshots are
 * then moved only from the version and balance the batch follows on from, so a stale writer or a
 * planner that lost count writes nothing: each throws LedgerAssertionError, and the caller's
 * transaction rolls back. A commandId recorded before fails the batch with a unique violation (the
 * movement is inserted before the balances, so that a repeat is told apart from a broken count).
 */
export async function commitItems(db: Queryable, items: readonly CommitItem[], assets: AssetCatalog): Promise<bigint[]> {
  if (items.length === 0) return [];
  if (items.length > COMMIT_BATCH_MAX) throw new RangeError(`commitItems: at most ${COMMIT_BATCH_MAX} items`);
  assertCommitItems(items);
  const applied = items.filter((item) => item.outcome.kind !== 'rejected');
  await insertMovements(db, applied);
  await writeBalances(db, applied);
  await insertEntries(db, applied);
  await addToPartitionTotals(db, applied);
  await writePots(db, applied);
  await writeOrders(db, applied);
  return insertOutcomes(db, items, assets);
}

async function insertMovements(db: Queryable, items: readonly CommitItem[]): Promise<void> {
  if (items.length === 0) return;
  const movements = items.map(movementOf);
  // Each pot's hash chain goes on from its latest movement (the caller holds the pots' partitions).
  const chained = chain(movements, await latestHashes(db, [...new Set(movements.map((m) => m.potId))]));
  await prepared(db, 'potledger-insert-movements')(
    `INSERT INTO movements (movement_id, command_id, process, process_version, member_id, pot_id, partition,
                            effective_date, corrected, pot_change, reverses, order_change, prev_hash, hash)
     SELECT m.movement_id, m.command_id, m.process, m.process_version, m.member_id, m.pot_id, m.partition,
            m.effective_date, m.corrected, m.pot_change, m.reverses, m.order_change, m.prev_hash, m.hash
       FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::int[],
                   $8::date[], $9::bool[], $10::jsonb[], $11::text[], $12::jsonb[], $13::text[], $14::text[])
            WITH ORDINALITY AS m(movement_id, command_id, process, process_version, member_id, pot_id, partition,
                                 effective_date, corrected, pot_change, reverses, order_change, prev_hash, hash, ordinal)
      ORDER BY m.ordinal`,
    [
      movements.map((m) => m.movementId),
      movements.map((m) => m.commandId),
      movements.map((m) => m.process),
      movements.map((m) => m.processVersion),
      movements.map((m) => m.memberId),
      movements.map((m) => m.potId),
      movements.map((m) => m.partition),
      movements.map((m) => m.effectiveDate),
      items.map((item) => item.outcome.kind === 'corrected'),
      movements.map((m) => (m.potChange === undefined ? null : canonicalJson(m.potChange))),
      movements.map((m) => m.reverses ?? null),
      movements.map((m) => (m.orderChange === undefined ? null : canonicalJson(m.orderChange))),
      chained.map((c) => c.previous),
      chained.map((c) => c.hash),
    ],
  );
}

async function insertEntries(db: Queryable, items: readonly CommitItem[]): Promise<void> {
  const rows = entryRows(items);
  if (rows.length === 0) return;
  await prepared(db, 'potledger-insert-entries')(
    `INSERT INTO entries (movement_id, entry_index, side, account_id, asset, amount_minor, balance_after_minor, account_version)
     SELECT * FROM unnest($1::text[], $2::smallint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[])`,
    [
      rows.map((r) => r.movementId),
      rows.map((r) => r.posting.entryIndex),
      rows.map((r) => r.posting.side),
      rows.map((r) => r.posting.account),
      rows.map((r) => r.posting.asset),
      rows.map((r) => r.posting.amountMinor.toString()),
      rows.map((r) => r.posting.balanceAfterMinor.toString()),
      rows.map((r) => r.posting.accountVersion.toString()),
    ],
  );
}

/**
 * Inserts the outcomes in item order and returns their outbox sequence numbers, in the same order. The
 * rows are inserted in item order so that the outbox follows commit order, but neither the order in
 * which Postgres hands out the identity values nor the order of RETURNING is promised: each seq is
 * matched to its item by commandId (unique within a commit), never by position.
 */
async function insertOutcomes(db: Queryable, items: readonly CommitItem[], assets: AssetCatalog): Promise<bigint[]> {
  const { rows } = await prepared(db, 'potledger-insert-outcomes')<{ command_id: string; seq: bigint }>(
    `INSERT INTO command_outcomes (command_id, fingerprint, process, member_id, pot_id, partition, status, movement_id,
                                   rejection_code, outcome, stream_seq, principal, source, produced_at)
     SELECT o.command_id, o.fingerprint, o.process, o.member_id, o.pot_id, o.partition, o.status, o.movement_id,
            o.rejection_code, o.outcome, o.stream_seq, o.principal, o.source, o.produced_at
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[],
                   $9::text[], $10::jsonb[], $11::bigint[], $12::text[], $13::text[], $14::timestamptz[])
            WITH ORDINALITY AS o(command_id, fingerprint, process, member_id, pot_id, partition, status, movement_id,
                                 rejection_code, outcome, stream_seq, principal, source, produced_at, ordinal)
      ORDER BY o.ordinal
     RETURNING command_id, seq`,
    [
      items.map((i) => i.command.commandId),
      items.map((i) => i.fingerprint),
      items.map((i) => storableText(i.command.process)),
      items.map((i) => i.command.memberId),
      items.map((i) => i.command.potId),
      items.map((i) => i.partition),
      items.map((i) => i.outcome.kind),
      items.map((i) => (i.outcome.kind === 'rejected' ? null : i.outcome.movement.movementId)),
      items.map((i) => (i.outcome.kind === 'rejected' ? i.outcome.code : null)),
      items.map((i) => {
        const detail = storedDetailOf(i.outcome, assets);
        // jsonb refuses \u0000 (a NUL in a rejected payload's key, say): it is stored as U+FFFD.
        return detail === null ? null : JSON.stringify(detail).replaceAll('\\u0000', '\\ufffd');
      }),
      items.map((i) => (i.streamSeq === undefined ? null : i.streamSeq.toString())),
      items.map((i) => i.audit?.principal ?? null),
      items.map((i) => i.audit?.source ?? null),
      // A command the journal refused has its own values written no more than the rejection needs:
      // its producedAt may be what Postgres refused (an offset beyond ±15:59, say).
      items.map((i) => (i.outcome.kind === 'rejected' && i.outcome.code === RejectionCode.storageRefused ? null : i.command.producedAt)),
    ],
  );
  const seqByCommand = new Map(rows.map((row) => [row.command_id, row.seq]));
  return items.map((item) => {
    const seq = seqByCommand.get(item.command.commandId);
    if (seq === undefined) throw new Error(`insertOutcomes: no outbox sequence came back for command ${item.command.commandId}`);
    return seq;
  });
}
