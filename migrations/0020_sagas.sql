-- The saga engine (src/sagas). Sagas without a table of their own (a conversion, the dealing fan-outs of a
-- trade, a day's re-balance run) keep their row here: `state` is a state of the saga's definition, `data`
-- what its steps need, `attempts`/`error` the failed attempts of the current step (a sweep leaves a saga
-- past the bound in its state, for an operator). Rows move only by compare-and-set on `state`.
CREATE TABLE sagas (
  saga         text NOT NULL CHECK (saga ~ '^[a-z][a-z0-9-]{0,39}$'),
  id           text NOT NULL CHECK (length(id) BETWEEN 1 AND 200),
  state        text NOT NULL,
  data         jsonb NOT NULL DEFAULT '{}'::jsonb,
  reason       text,
  attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  error        text,
  started_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  PRIMARY KEY (saga, id)
);
CREATE INDEX sagas_unfinished ON sagas (saga, started_at) WHERE finished_at IS NULL;
REVOKE ALL ON sagas FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON sagas TO potledger_writer;
GRANT SELECT ON sagas TO potledger_reader;

-- A payment's row is its saga's row (`status` is the state): the bounded retries of its current step.
ALTER TABLE payments ADD COLUMN attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0);
ALTER TABLE payments ADD COLUMN error text;

-- A distribution's share names the payment that pays it (a typed column, not an id built in a join);
-- filled for the shares recorded before (the id the pools desk has always given that payment).
ALTER TABLE pool_distribution_shares ADD COLUMN payment_id text;
UPDATE pool_distribution_shares s SET payment_id = 'pool:' || d.pool_id || ':dist:' || s.distribution_id || ':' || s.ordinal
  FROM pool_distributions d WHERE d.distribution_id = s.distribution_id;
ALTER TABLE pool_distribution_shares ALTER COLUMN payment_id SET NOT NULL;
GRANT UPDATE (payment_id) ON pool_distribution_shares TO potledger_writer;
