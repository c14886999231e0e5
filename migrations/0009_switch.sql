-- A buy may be funded by the pot's priced, unsettled sale proceeds (a switch) instead of its cash.
ALTER TABLE orders ADD COLUMN funding text NOT NULL DEFAULT 'cash' CHECK (funding IN ('cash', 'proceeds'));
ALTER TABLE orders ADD CONSTRAINT orders_funding_buy CHECK (funding = 'cash' OR side = 'buy');
-- The desk looks for switch purchases whose trade settled while their sales had not (few, if any).
CREATE INDEX orders_switches_allocated ON orders (trade_id) WHERE funding = 'proceeds' AND status = 'allocated';
