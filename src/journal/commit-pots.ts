/** A commit's pot changes: pots opened and closed, risk profiles, re-balancing dates and holds, in commit order. */
import type { Queryable } from './database.js';
import { potChangeRows, type CommitItem } from './commit-rows.js';

export async function writePots(db: Queryable, items: readonly CommitItem[]): Promise<void> {
  const { opened, closed, profiled, rebalanced, held } = potChangeRows(items);
  if (opened.length > 0) {
    await db.query(
      `INSERT INTO pots (pot_id, member_id, partition, status, opened_movement_id, risk_profile)
       SELECT p.pot_id, p.member_id, p.partition, 'open', p.movement_id, p.risk_profile
         FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[]) AS p(pot_id, member_id, partition, movement_id, risk_profile)`,
      [opened.map((p) => p.potId), opened.map((p) => p.memberId), opened.map((p) => p.partition), opened.map((p) => p.movementId), opened.map((p) => p.profile)],
    );
  }
  if (closed.length > 0) {
    const result = await db.query(
      `UPDATE pots SET status = 'closed', closed_movement_id = c.movement_id
         FROM unnest($1::text[], $2::text[]) AS c(pot_id, movement_id)
        WHERE pots.pot_id = c.pot_id AND pots.status = 'open'`,
      [closed.map((p) => p.potId), closed.map((p) => p.movementId)],
    );
    if (result.rowCount !== closed.length) throw new Error('writePots: a pot to close was not open');
  }
  // In commit order: a pot changed twice in one batch ends with its last change. One statement per
  // change, at most one per item of the batch (COMMIT_BATCH_MAX).
  for (const { potId, profile } of profiled) await db.query('UPDATE pots SET risk_profile = $2 WHERE pot_id = $1', [potId, profile]);
  for (const { potId, date } of rebalanced) await db.query('UPDATE pots SET rebalanced_on = $2::date WHERE pot_id = $1', [potId, date]);
  for (const { potId, change } of held) {
    if (change.type === 'hold') {
      const { holdId, payee, currency, amountMinor, expiresAt } = change;
      await db.query('UPDATE pots SET holds = holds || jsonb_build_object($2::text, $3::jsonb) WHERE pot_id = $1', [
        potId,
        holdId,
        JSON.stringify({ payee, currency, amountMinor, expiresAt }),
      ]);
    } else {
      await db.query('UPDATE pots SET holds = holds - $2::text WHERE pot_id = $1', [potId, change.holdId]);
    }
  }
}
