-- The HTTP API: members' personal data (apart from the ledger), API keys, the API's idempotency
-- record, and the partition totals behind the real-time balance sheet.

-- Members' personal data lives here and nowhere in the journal: the journal knows a member only by
-- member_id. Erasing a member clears the personal fields and keeps the row (and every ledger record)
-- so that the member's movements still name a member that existed.
CREATE TABLE members (
  member_id     text PRIMARY KEY,
  name          text,
  email         text,
  address       text,
  risk_profile  text NOT NULL,
  version       bigint NOT NULL DEFAULT 1 CHECK (version > 0),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  erased_at     timestamptz,
  CHECK (erased_at IS NOT NULL OR (name IS NOT NULL AND email IS NOT NULL AND address IS NOT NULL)),
  CHECK (erased_at IS NULL OR (name IS NULL AND email IS NULL AND address IS NULL))
);

-- API keys: only the SHA-256 of the secret is stored (the secret is 32 random bytes, so a plain hash
-- is enough: there is nothing to guess). A member's key reads that member's pots only.
CREATE TABLE api_keys (
  key_id      text PRIMARY KEY,
  secret_sha256 bytea NOT NULL,
  role        text NOT NULL CHECK (role IN ('service', 'operator', 'member')),
  member_id   text,
  label       text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz,
  CHECK ((role = 'member') = (member_id IS NOT NULL))
);

-- The API's idempotency record: one row per (caller, Idempotency-Key), with the fingerprint of what was
-- asked and the resource it created (a command id, a member id). A retry with the same fingerprint gets
-- the first answer; another fingerprint is a conflict (409).
CREATE TABLE api_requests (
  principal        text NOT NULL,
  idempotency_key  text NOT NULL,
  route            text NOT NULL,
  fingerprint      text NOT NULL,
  resource_id      text NOT NULL,
  -- For a command: the command as first published (its effective date included), so a retry on a
  -- later day re-sends the same command rather than a different one under the same id.
  request          jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (principal, idempotency_key)
);
CREATE INDEX api_requests_resource ON api_requests (resource_id);

-- The real-time balance sheet: the total balance per partition, account kind and asset, kept by every
-- commit in the same transaction as the entries (a handful of rows per partition, so the Trust's
-- totals are one small query at any size). `verify` proves it equals the sum of the balances.
CREATE TABLE partition_totals (
  partition      integer NOT NULL CHECK (partition >= 0),
  kind           text NOT NULL,
  asset          text NOT NULL,
  balance_minor  bigint NOT NULL,
  PRIMARY KEY (partition, kind, asset)
);
INSERT INTO partition_totals (partition, kind, asset, balance_minor)
SELECT coalesce(b.partition, p.partition), b.kind, b.asset, sum(b.balance_minor)
  FROM balances b LEFT JOIN pots p ON p.pot_id = b.pot_id
 WHERE coalesce(b.partition, p.partition) IS NOT NULL
 GROUP BY 1, 2, 3;

REVOKE ALL ON members, api_keys, api_requests, partition_totals FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON members, api_keys, partition_totals TO potledger_writer;
GRANT SELECT, INSERT ON api_requests TO potledger_writer;
GRANT SELECT ON partition_totals, api_requests TO potledger_reader;
-- The reader role serves reports: it sees member ids through the journal, not personal data or keys.
