-- potledger journal, version 1.
-- The journal (movements, entries, command outcomes, end-of-day snapshots) is append-only: the
-- service's role may only INSERT and SELECT it, and triggers refuse UPDATE, DELETE and TRUNCATE for
-- everyone but a superuser who disables them on purpose. Balances and pots are snapshots: a cache of
-- the journal that `verify` rebuilds and compares.

-- Roles are cluster-wide: another database on the same server may create them at the same moment.
DO $$
DECLARE
  role_name text;
BEGIN
  FOREACH role_name IN ARRAY ARRAY['potledger_writer', 'potledger_reader'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
      END;
    END IF;
  END LOOP;
END
$$;

CREATE TABLE pots (
  pot_id              text PRIMARY KEY,
  member_id           text NOT NULL,
  partition           integer NOT NULL CHECK (partition >= 0),
  status              text NOT NULL CHECK (status IN ('open', 'closed')),
  opened_movement_id  text NOT NULL,
  closed_movement_id  text
);
CREATE INDEX pots_member ON pots (member_id);

CREATE TABLE movements (
  seq              bigint GENERATED ALWAYS AS IDENTITY,
  movement_id      text PRIMARY KEY,
  command_id       text NOT NULL UNIQUE,
  process          text NOT NULL,
  process_version  integer NOT NULL,
  member_id        text NOT NULL,
  pot_id           text NOT NULL,
  partition        integer NOT NULL CHECK (partition >= 0),
  effective_date   date NOT NULL,
  committed_at     timestamptz NOT NULL DEFAULT now(),
  corrected        boolean NOT NULL,
  pot_change       jsonb,
  -- At most one reversal per movement, enforced here and not only in the process.
  reverses         text UNIQUE
);
CREATE INDEX movements_pot ON movements (pot_id, seq);

-- One row per side of an entry: the debit and the credit of entry N of a movement. Each row records
-- the account's balance after it and the account's version, so statements and point-in-time reads
-- need no replay; (account_id, account_version) is unique, so two writers can never both extend an
-- account from the same version.
--
-- No foreign keys on the journal: they cost a lookup per row on the hottest insert path, and the
-- references are proven instead by `verify` (every entry's movement exists, every outcome's movement
-- exists and is that command's).
CREATE TABLE entries (
  movement_id          text NOT NULL,
  entry_index          smallint NOT NULL CHECK (entry_index >= 0),
  side                 text NOT NULL CHECK (side IN ('debit', 'credit')),
  account_id           text NOT NULL,
  asset                text NOT NULL,
  amount_minor         bigint NOT NULL CHECK (amount_minor > 0),
  balance_after_minor  bigint NOT NULL,
  account_version      bigint NOT NULL CHECK (account_version > 0),
  PRIMARY KEY (movement_id, entry_index, side),
  UNIQUE (account_id, account_version)
);

CREATE TABLE balances (
  account_id        text PRIMARY KEY,
  owner_type        text NOT NULL CHECK (owner_type IN ('pot', 'system')),
  pot_id            text,
  partition         integer,
  kind              text NOT NULL,
  asset             text NOT NULL,
  balance_minor     bigint NOT NULL,
  version           bigint NOT NULL CHECK (version > 0),
  last_movement_id  text NOT NULL,
  CHECK ((owner_type = 'pot') = (pot_id IS NOT NULL)),
  CHECK ((owner_type = 'system') = (partition IS NOT NULL))
);
CREATE INDEX balances_pot ON balances (pot_id) WHERE pot_id IS NOT NULL;
CREATE INDEX balances_partition ON balances (partition) WHERE partition IS NOT NULL;

-- End-of-day snapshots: the balance and version of every account that changed since its previous
-- snapshot, as committed when the business day was closed.
CREATE TABLE balances_eod (
  business_date  date NOT NULL,
  account_id     text NOT NULL,
  balance_minor  bigint NOT NULL,
  version        bigint NOT NULL,
  PRIMARY KEY (account_id, business_date)
);
CREATE TABLE business_days_closed (
  business_date  date PRIMARY KEY,
  closed_at      timestamptz NOT NULL DEFAULT now(),
  accounts       bigint NOT NULL
);

-- The idempotency record, kept forever: one outcome per commandId, with the fingerprint of what was
-- asked. A repeat with the same fingerprint is answered from here; another fingerprint is a conflict.
CREATE TABLE command_outcomes (
  command_id      text PRIMARY KEY,
  fingerprint     text NOT NULL,
  process         text NOT NULL,
  member_id       text NOT NULL,
  pot_id          text NOT NULL,
  partition       integer,
  status          text NOT NULL CHECK (status IN ('applied', 'corrected', 'rejected')),
  movement_id     text,
  rejection_code  text,
  -- Only what the movement tables cannot give back: a rejection's reason and details, a corrected
  -- movement's original plan and violations. NULL for a plain application.
  outcome         jsonb,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  CHECK ((status = 'rejected') = (movement_id IS NULL)),
  CHECK ((status = 'rejected') = (rejection_code IS NOT NULL)),
  CHECK ((status = 'applied') = (outcome IS NULL))
);
CREATE INDEX command_outcomes_rejected ON command_outcomes (recorded_at) WHERE status = 'rejected';

CREATE FUNCTION potledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'potledger: % on % is refused: the journal is append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$;

DO $$
DECLARE
  journal_table text;
BEGIN
  FOREACH journal_table IN ARRAY ARRAY['movements', 'entries', 'command_outcomes', 'balances_eod', 'business_days_closed'] LOOP
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION potledger_append_only()',
                   journal_table || '_append_only', journal_table);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION potledger_append_only()',
                   journal_table || '_no_truncate', journal_table);
    EXECUTE format('REVOKE ALL ON %I FROM PUBLIC', journal_table);
    EXECUTE format('GRANT SELECT, INSERT ON %I TO potledger_writer', journal_table);
    EXECUTE format('GRANT SELECT ON %I TO potledger_reader', journal_table);
  END LOOP;
END
$$;

REVOKE ALL ON pots, balances FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON pots, balances TO potledger_writer;
GRANT SELECT ON pots, balances TO potledger_reader;

-- Readiness checks read which migrations are applied.
GRANT SELECT ON schema_migrations TO potledger_writer, potledger_reader;
