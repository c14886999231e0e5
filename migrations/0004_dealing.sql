-- The dealing cycle: orders, closing prices, external trades with their allocation basis.

-- A movement may change an order (place, cancel, allocate, settle), as it may change its pot.
ALTER TABLE movements ADD COLUMN order_change jsonb;

-- Orders: a snapshot of each order's state, written with the movements that change it (and, for the
-- step outside any pot, aggregation, by the aggregator). Like `pots`, a cache of the journal that
-- `verify` checks against the movements.
CREATE TABLE orders (
  order_id            text PRIMARY KEY,
  pot_id              text NOT NULL,
  member_id           text NOT NULL,
  partition           integer NOT NULL CHECK (partition >= 0),
  fund                text NOT NULL,
  currency            text NOT NULL,
  side                text NOT NULL CHECK (side IN ('buy', 'sell')),
  amount_minor        bigint NOT NULL CHECK (amount_minor > 0),
  dealing_date        date NOT NULL,
  status              text NOT NULL CHECK (status IN ('open', 'aggregated', 'allocated', 'settled', 'cancelled')),
  trade_id            text,
  filled_minor        bigint,
  units_minor         bigint,
  cash_minor          bigint,
  placed_movement_id  text NOT NULL,
  last_movement_id    text NOT NULL,
  CHECK ((status IN ('open', 'cancelled')) = (trade_id IS NULL)),
  CHECK ((status IN ('allocated', 'settled')) = (filled_minor IS NOT NULL))
);
CREATE INDEX orders_open ON orders (fund, dealing_date) WHERE status = 'open';
CREATE INDEX orders_trade ON orders (trade_id) WHERE trade_id IS NOT NULL;
CREATE INDEX orders_pot ON orders (pot_id);

-- Closing prices, one per fund per business day, exact (at most 8 decimals). Never changed once
-- loaded: a price the cycle used is evidence.
CREATE TABLE fund_prices (
  fund           text NOT NULL,
  business_date  date NOT NULL,
  price          numeric(20, 8) NOT NULL CHECK (price > 0),
  source         text NOT NULL,
  loaded_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (fund, business_date)
);

-- One external trade per fund per dealing day: both legs as aggregated at the cut-off, then what the
-- custodian did with it. `trade_orders` is the allocation basis, recorded before the trade is sent.
CREATE TABLE external_trades (
  trade_id                       text PRIMARY KEY,
  fund                           text NOT NULL,
  currency                       text NOT NULL,
  dealing_date                   date NOT NULL,
  settlement_date                date NOT NULL,
  buy_cash_minor                 bigint NOT NULL CHECK (buy_cash_minor >= 0),
  sell_units_minor               bigint NOT NULL CHECK (sell_units_minor >= 0),
  orders                         integer NOT NULL CHECK (orders > 0),
  -- placed → priced → settled, or placed → rejected (the custodian refused it: nothing was dealt).
  status                         text NOT NULL CHECK (status IN ('placed', 'priced', 'settled', 'rejected')),
  placed_at                      timestamptz NOT NULL DEFAULT now(),
  price                          numeric(20, 8),
  buy_cash_filled_minor          bigint,
  sell_units_filled_minor        bigint,
  buy_units_executed_minor       bigint,
  sell_proceeds_executed_minor   bigint,
  residue_units_minor            bigint,
  residue_cash_minor             bigint,
  priced_at                      timestamptz,
  settled_at                     timestamptz,
  UNIQUE (fund, dealing_date),
  CHECK (status <> 'placed' OR price IS NULL),
  CHECK (status NOT IN ('priced', 'settled') OR price IS NOT NULL)
);

CREATE TABLE trade_orders (
  trade_id      text NOT NULL,
  order_id      text NOT NULL,
  pot_id        text NOT NULL,
  member_id     text NOT NULL,
  side          text NOT NULL CHECK (side IN ('buy', 'sell')),
  amount_minor  bigint NOT NULL CHECK (amount_minor > 0),
  PRIMARY KEY (trade_id, order_id)
);
CREATE INDEX trade_orders_order ON trade_orders (order_id);

DO $$
DECLARE
  evidence text;
BEGIN
  FOREACH evidence IN ARRAY ARRAY['fund_prices', 'trade_orders'] LOOP
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION potledger_append_only()',
                   evidence || '_append_only', evidence);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION potledger_append_only()',
                   evidence || '_no_truncate', evidence);
  END LOOP;
END
$$;

REVOKE ALL ON orders, fund_prices, external_trades, trade_orders FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON orders, external_trades TO potledger_writer;
GRANT SELECT, INSERT ON fund_prices, trade_orders TO potledger_writer;
GRANT SELECT ON orders, fund_prices, external_trades, trade_orders TO potledger_reader;
