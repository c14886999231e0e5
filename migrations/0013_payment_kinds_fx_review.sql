-- Payments (src/payments) as saga kinds: a payment, a hold's post, and the kinds built on them (pools)
-- each name which process each step runs (src/payments/sagas.ts); `detail` carries what a kind needs.
ALTER TABLE payments ADD COLUMN kind text NOT NULL DEFAULT 'payment';
ALTER TABLE payments ADD COLUMN detail jsonb NOT NULL DEFAULT '{}'::jsonb;
UPDATE payments SET kind = 'hold' WHERE hold_id IS NOT NULL;

-- A cross-currency payment: the payer pays `cost_minor` of `from_currency` at `rate` (payment currency
-- per one from_currency), the day's rate fixed when the payment is recorded, so every retry and the
-- refund use the same numbers.
ALTER TABLE payments ADD COLUMN from_currency text;
ALTER TABLE payments ADD COLUMN rate text;
ALTER TABLE payments ADD COLUMN rate_day date;
ALTER TABLE payments ADD COLUMN cost_minor bigint;
ALTER TABLE payments ADD CONSTRAINT payments_exchange_whole CHECK (
  (from_currency IS NULL) = (rate IS NULL) AND (rate IS NULL) = (rate_day IS NULL) AND (rate_day IS NULL) = (cost_minor IS NULL)
  AND (from_currency IS NULL OR from_currency <> currency) AND (cost_minor IS NULL OR cost_minor > 0));

-- Review (the fraud rules hook): a payment a rule flags is debited, then waits in `review` with the
-- money in clearing until an operator releases it (credited) or rejects it (refunded).
ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check CHECK (status IN ('requested', 'in-flight', 'review', 'completed', 'refunding', 'refunded', 'rejected'));
ALTER TABLE payments ADD COLUMN review_reason text;
ALTER TABLE payments ADD COLUMN reviewed_by text;
ALTER TABLE payments ADD COLUMN reviewed_at timestamptz;
ALTER TABLE payments ADD COLUMN review_decision text CHECK (review_decision IN ('released', 'rejected'));
ALTER TABLE payments ADD COLUMN review_note text;
ALTER TABLE payments ADD CONSTRAINT payments_review_decided CHECK ((review_decision IS NULL) = (reviewed_by IS NULL) AND (reviewed_by IS NULL) = (reviewed_at IS NULL));
DROP INDEX payments_unfinished;
CREATE INDEX payments_unfinished ON payments (created_at) WHERE status IN ('requested', 'in-flight', 'review', 'refunding');

-- Daily FX rates: `rate` units of `quote` per one unit of `base` on `day`, an exact decimal recorded
-- once (a different rate for the same day and pair is refused; payments have used it).
CREATE TABLE fx_rates (
  day         date NOT NULL,
  base        text NOT NULL CHECK (base ~ '^[A-Z]{3}$'),
  quote       text NOT NULL CHECK (quote ~ '^[A-Z]{3}$'),
  rate        text NOT NULL CHECK (rate ~ '^(0|[1-9][0-9]{0,11})(\.[0-9]{1,8})?$'),
  recorded_by text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (base, quote, day),
  CHECK (base <> quote)
);
REVOKE ALL ON fx_rates FROM PUBLIC;
GRANT SELECT, INSERT ON fx_rates TO potledger_writer;
GRANT SELECT ON fx_rates TO potledger_reader;

-- The review rule "the payer's pot has an open alert" looks alerts up by pot.
CREATE INDEX alerts_open_by_pot ON alerts (pot_id) WHERE acknowledged_at IS NULL AND pot_id IS NOT NULL;

-- Conversions between a pot's currencies (POST /conversions): the rate fixed when first asked, so a
-- retry on a later day sends the same fx.convert command (conversion:<id>) and applies once.
CREATE TABLE conversions (
  conversion_id  text PRIMARY KEY,
  member_id      text NOT NULL,
  pot_id         text NOT NULL,
  amount_minor   bigint NOT NULL CHECK (amount_minor > 0),
  currency       text NOT NULL,
  from_currency  text NOT NULL,
  rate           text NOT NULL,
  rate_day       date NOT NULL,
  cost_minor     bigint NOT NULL CHECK (cost_minor > 0),
  created_at     timestamptz NOT NULL DEFAULT now(),
  CHECK (currency <> from_currency)
);
REVOKE ALL ON conversions FROM PUBLIC;
GRANT SELECT, INSERT ON conversions TO potledger_writer;
GRANT SELECT ON conversions TO potledger_reader;
