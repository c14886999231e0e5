-- Investment pools (src/pools). A pool has a pot of its own; its units (`POOL-<id>`, at par) are ledger
-- balances of the investors' pots (kind pool.units), so holdings come from the journal, not from here.
CREATE TABLE pools (
  pool_id     text PRIMARY KEY CHECK (pool_id ~ '^[A-Z0-9]{1,27}$'),
  currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  member_id   text NOT NULL,
  pot_id      text NOT NULL UNIQUE,
  created_by  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- A distribution: the holdings read once (the record point), the shares computed from them and stored
-- before any money moves, then one pool.distribute movement and a payment per share.
CREATE TABLE pool_distributions (
  distribution_id  text PRIMARY KEY,
  pool_id          text NOT NULL REFERENCES pools (pool_id),
  amount_minor     bigint NOT NULL CHECK (amount_minor > 0),
  status           text NOT NULL CHECK (status IN ('recorded', 'paying', 'paid', 'rejected')),
  reason           text,
  investors        integer,
  created_by       text NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE pool_distribution_shares (
  distribution_id  text NOT NULL REFERENCES pool_distributions (distribution_id),
  ordinal          integer NOT NULL CHECK (ordinal >= 1),
  pot_id           text NOT NULL,
  member_id        text NOT NULL,
  holding_minor    bigint NOT NULL CHECK (holding_minor > 0),
  share_minor      bigint NOT NULL CHECK (share_minor >= 0),
  PRIMARY KEY (distribution_id, pot_id),
  UNIQUE (distribution_id, ordinal)
);

-- The holdings of one pool, by pot, for a distribution's record point.
CREATE INDEX balances_pool_holdings ON balances (asset, pot_id) WHERE kind = 'pool.units' AND balance_minor > 0;

-- The top-investors report: how many pools each pot holds units of, kept by a trigger on the balances
-- the journal writes (in the same transaction), so the report reads N rows of an index, not every
-- holding. A pot is written by one partition's single writer, so its row is never updated concurrently.
CREATE TABLE pool_investors (
  pot_id  text PRIMARY KEY,
  pools   integer NOT NULL CHECK (pools >= 0)
);
CREATE INDEX pool_investors_top ON pool_investors (pools DESC, pot_id) WHERE pools > 0;

CREATE FUNCTION potledger_pool_investors() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  delta integer := (NEW.balance_minor > 0)::int - (CASE WHEN TG_OP = 'UPDATE' THEN (OLD.balance_minor > 0)::int ELSE 0 END);
BEGIN
  IF delta <> 0 THEN
    INSERT INTO pool_investors (pot_id, pools) VALUES (NEW.pot_id, greatest(delta, 0))
      ON CONFLICT (pot_id) DO UPDATE SET pools = pool_investors.pools + delta;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER pool_investors_insert AFTER INSERT ON balances FOR EACH ROW WHEN (NEW.kind = 'pool.units') EXECUTE FUNCTION potledger_pool_investors();
CREATE TRIGGER pool_investors_update AFTER UPDATE OF balance_minor ON balances FOR EACH ROW
  WHEN (NEW.kind = 'pool.units' AND (NEW.balance_minor > 0) IS DISTINCT FROM (OLD.balance_minor > 0)) EXECUTE FUNCTION potledger_pool_investors();
REVOKE ALL ON FUNCTION potledger_pool_investors() FROM PUBLIC;

REVOKE ALL ON pools, pool_distributions, pool_distribution_shares, pool_investors FROM PUBLIC;
GRANT SELECT, INSERT ON pools, pool_distribution_shares TO potledger_writer;
GRANT SELECT, INSERT, UPDATE ON pool_distributions TO potledger_writer;
GRANT SELECT ON pool_investors TO potledger_writer;
GRANT SELECT ON pools, pool_distributions, pool_distribution_shares, pool_investors TO potledger_reader;
