-- The end-of-day close as a cut in stream order (src/journal/end-of-day.ts).
--
-- close_requests: a close of business day D is asked for here first, then a close marker goes through
-- every partition's command stream. A shard worker honours a marker only for a requested day, so a
-- marker published by anyone else (a publisher may publish on the command subjects) is recorded as
-- poison, never snapshotted.
--
-- partition_closes: one row per partition and closed day, written in the same transaction that
-- commits the partition's marker together with the partition's end-of-day snapshots. `movement_seq_through`
-- is the cut: every movement of the partition with seq <= it is wholly in the snapshot, every later one
-- wholly out (a partition's commits are serialised by its fence, so its movements' seq follow commit
-- order). `stream_seq` is the marker's place in the command stream (NULL for a close taken offline, the
-- seed's, with no stream). `verify` replays the journal up to each cut and compares the snapshots.
-- Days closed before this migration have no rows here: their snapshots are not a proven cut, and
-- `verify` checks the cut from each partition's first recorded close on.
CREATE TABLE close_requests (
  business_date    date PRIMARY KEY,
  partition_count  integer NOT NULL CHECK (partition_count > 0),
  requested_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE partition_closes (
  business_date         date NOT NULL,
  partition             integer NOT NULL CHECK (partition >= 0),
  stream_seq            bigint,
  movement_seq_through  bigint NOT NULL CHECK (movement_seq_through >= 0),
  accounts              bigint NOT NULL CHECK (accounts >= 0),
  closed_at             timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (business_date, partition)
);
-- verify finds, for each movement, the first close of its partition at or after it.
CREATE INDEX partition_closes_cut ON partition_closes (partition, movement_seq_through);

-- A partition's close reads the accounts of its pots.
CREATE INDEX pots_partition ON pots (partition);

DO $$
DECLARE
  journal_table text;
BEGIN
  FOREACH journal_table IN ARRAY ARRAY['close_requests', 'partition_closes'] LOOP
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
