-- The audit trail: who asked for each command, through what, and when. Recorded with the command's
-- outcome in the same append-only table (its triggers refuse UPDATE and DELETE), from the headers the
-- publisher sets (Potledger-Principal, Potledger-Source) and the command's own producedAt. Rows written
-- before this migration have none.
ALTER TABLE command_outcomes ADD COLUMN principal text;
ALTER TABLE command_outcomes ADD COLUMN source text;
ALTER TABLE command_outcomes ADD COLUMN produced_at timestamptz;
CREATE INDEX command_outcomes_pot ON command_outcomes (pot_id, seq);
