-- Tamper evidence (src/journal/chain.ts): each pot's movements form a hash chain. `hash` is the SHA-256
-- of `prev_hash` (the pot's previous movement's hash, '' for its first) and the movement's identity and
-- entries; `verify` rebuilds both from the rows. Movements written before this migration are chained
-- here, in their commit order.
ALTER TABLE movements ADD COLUMN prev_hash text;
ALTER TABLE movements ADD COLUMN hash text;

ALTER TABLE movements DISABLE TRIGGER movements_append_only;
DO $$
DECLARE
  r record;
  last_pot text := NULL;
  last_hash text := '';
BEGIN
  FOR r IN SELECT movement_id, pot_id FROM movements ORDER BY pot_id, seq LOOP
    IF r.pot_id IS DISTINCT FROM last_pot THEN
      last_pot := r.pot_id;
      last_hash := '';
    END IF;
    UPDATE movements m
       SET prev_hash = last_hash,
           hash = encode(sha256(convert_to(concat_ws(E'\n', last_hash, m.movement_id, m.command_id, m.process, m.member_id, m.pot_id, m.partition::text, m.effective_date::text,
             coalesce((SELECT string_agg(format('%s:%s>%s:%s:%s', d.entry_index, d.account_id, c.account_id, d.asset, d.amount_minor), E'\n' ORDER BY d.entry_index)
                         FROM entries d JOIN entries c ON c.movement_id = d.movement_id AND c.entry_index = d.entry_index AND c.side = 'credit'
                        WHERE d.movement_id = m.movement_id AND d.side = 'debit'), '')), 'UTF8')), 'hex')
     WHERE m.movement_id = r.movement_id
     RETURNING m.hash INTO last_hash;
  END LOOP;
END $$;
ALTER TABLE movements ENABLE TRIGGER movements_append_only;

ALTER TABLE movements ALTER COLUMN prev_hash SET NOT NULL;
ALTER TABLE movements ALTER COLUMN hash SET NOT NULL;
