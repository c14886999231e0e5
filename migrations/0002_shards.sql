-- Shard ownership, checkpoints, the event outbox and poison messages.

-- One row per partition: who owns it, under which fencing epoch, and how far it has got. Every commit
-- of a shard worker updates its row WHERE epoch = <its epoch>: a worker that lost the partition finds
-- no row to update and rolls back, so it can never commit after another took over.
CREATE TABLE partition_owners (
  partition           integer PRIMARY KEY CHECK (partition >= 0),
  epoch               bigint NOT NULL CHECK (epoch > 0),
  worker_id           text NOT NULL,
  acquired_at         timestamptz NOT NULL DEFAULT now(),
  -- Every command message of the partition up to this stream sequence has its outcome committed.
  checkpoint_seq      bigint NOT NULL DEFAULT 0,
  -- Every outcome of the partition up to this outcome sequence has its event confirmed by JetStream.
  events_through_seq  bigint NOT NULL DEFAULT 0,
  committed_at        timestamptz
);

-- The outbox order: outcomes of one partition are inserted in commit order (commits of a partition are
-- serialised by the row lock on partition_owners), so seq orders them.
ALTER TABLE command_outcomes ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE command_outcomes ADD COLUMN stream_seq bigint;
CREATE INDEX command_outcomes_partition_seq ON command_outcomes (partition, seq);

-- Messages that cannot be read as a command (not JSON, a malformed envelope, oversize, the wrong
-- partition): recorded, acknowledged, never retried. Append-only like the journal.
CREATE TABLE poison_messages (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  partition    integer NOT NULL,
  stream_seq   bigint NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now(),
  code         text NOT NULL,
  reason       text NOT NULL,
  headers      jsonb NOT NULL,
  body_bytes   integer NOT NULL,
  body_prefix  text NOT NULL,
  UNIQUE (partition, stream_seq)
);

CREATE TRIGGER poison_messages_append_only BEFORE UPDATE OR DELETE ON poison_messages
  FOR EACH ROW EXECUTE FUNCTION potledger_append_only();
CREATE TRIGGER poison_messages_no_truncate BEFORE TRUNCATE ON poison_messages
  FOR EACH STATEMENT EXECUTE FUNCTION potledger_append_only();

REVOKE ALL ON partition_owners, poison_messages FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON partition_owners TO potledger_writer;
GRANT SELECT, INSERT ON poison_messages TO potledger_writer;
GRANT SELECT ON partition_owners, poison_messages TO potledger_reader;
