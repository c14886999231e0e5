-- Alerts per investment pool: a spike in the movements of a pool's units or of its own pot.
ALTER TABLE alerts DROP CONSTRAINT alerts_scope_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_scope_check CHECK (scope IN ('movement', 'pot', 'fund', 'pool'));
