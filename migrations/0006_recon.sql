-- Reconciliation runs: what was compared (the statements, by their SHA-256 and in full), every break
-- found, and the notes operators add when they resolve one. A run and its breaks are evidence: only a
-- break's resolution may be written after the run.
CREATE TABLE recon_runs (
  run_id        text PRIMARY KEY,
  as_of         date NOT NULL,
  started_at    timestamptz NOT NULL DEFAULT now(),
  inputs        jsonb NOT NULL,
  breaks        integer NOT NULL,
  checked       jsonb NOT NULL
);

CREATE TABLE recon_breaks (
  run_id          text NOT NULL REFERENCES recon_runs (run_id),
  seq             integer NOT NULL,
  kind            text NOT NULL,
  asset           text NOT NULL,
  reference       text,
  ledger_minor    bigint NOT NULL,
  statement_minor bigint NOT NULL,
  difference_minor bigint NOT NULL,
  value_minor     bigint,
  value_currency  text,
  classification  text NOT NULL CHECK (classification IN ('timing', 'missing-trade', 'unexplained')),
  explanation     text NOT NULL,
  resolution      text,
  resolved_at     timestamptz,
  PRIMARY KEY (run_id, seq)
);

CREATE TRIGGER recon_runs_append_only BEFORE UPDATE OR DELETE ON recon_runs FOR EACH ROW EXECUTE FUNCTION potledger_append_only();

REVOKE ALL ON recon_runs, recon_breaks FROM PUBLIC;
GRANT SELECT, INSERT ON recon_runs TO potledger_writer;
GRANT SELECT, INSERT, UPDATE ON recon_breaks TO potledger_writer;
GRANT SELECT ON recon_runs, recon_breaks TO potledger_reader;
