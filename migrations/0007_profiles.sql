-- Risk profiles: which profile a pot follows, and the last business day it was re-balanced for
-- (a snapshot of the pot's movements, like its status).
ALTER TABLE pots ADD COLUMN risk_profile text;
ALTER TABLE pots ADD COLUMN rebalanced_on date;
CREATE INDEX pots_rebalance ON pots (pot_id) WHERE risk_profile IS NOT NULL AND status = 'open';
