-- A pot's open holds (src/ledger/processes/holds.ts), by hold id: a cache of the journal's `hold` and
-- `hold-end` pot changes, like the pot's other state, written in the same transaction.
ALTER TABLE pots ADD COLUMN holds jsonb NOT NULL DEFAULT '{}'::jsonb;
CREATE INDEX pots_with_holds ON pots USING gin (holds) WHERE holds <> '{}'::jsonb;

-- A payment that posts a hold: its debit step is the hold's post (hold.post) instead of payment.send.
ALTER TABLE payments ADD COLUMN hold_id text;
CREATE INDEX payments_hold ON payments (hold_id) WHERE hold_id IS NOT NULL;
