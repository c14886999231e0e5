-- The message id (the commandId) of the message at each partition's checkpoint. A new owner checks that
-- the command stream still holds that message at that sequence: after an OS crash a single-node
-- nats-server may come back with an older store, whose next messages reuse sequence numbers the
-- checkpoint already covers (docs/RELIABILITY.md).
ALTER TABLE partition_owners ADD COLUMN checkpoint_msg_id text NOT NULL DEFAULT '';
