-- The version of each account at the last end-of-day close, so that a close snapshots exactly the
-- accounts that changed since (an indexed comparison on the balances, never a search of the history).
ALTER TABLE balances ADD COLUMN closed_version bigint NOT NULL DEFAULT 0;
UPDATE balances b SET closed_version = d.version
  FROM (SELECT DISTINCT ON (account_id) account_id, version FROM balances_eod ORDER BY account_id, business_date DESC) d
 WHERE d.account_id = b.account_id;
