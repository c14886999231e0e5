-- Payments between pots (src/payments): the saga's log. Each step is a ledger command with an id
-- derived from the payment (payment:<id>:debit, :credit, :refund); the status moves only after the
-- journal has the step's outcome, forward only.
CREATE TABLE payments (
  payment_id      text PRIMARY KEY,
  payer_member    text NOT NULL,
  payer_pot       text NOT NULL,
  payee_member    text NOT NULL,
  payee_pot       text NOT NULL,
  amount_minor    bigint NOT NULL CHECK (amount_minor > 0),
  currency        text NOT NULL,
  status          text NOT NULL CHECK (status IN ('requested', 'in-flight', 'completed', 'refunding', 'refunded', 'rejected')),
  reason          text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  CHECK (payer_pot <> payee_pot)
);
CREATE INDEX payments_unfinished ON payments (created_at) WHERE status IN ('requested', 'in-flight', 'refunding');

REVOKE ALL ON payments FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON payments TO potledger_writer;
GRANT SELECT ON payments TO potledger_reader;
