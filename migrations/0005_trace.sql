-- Traceability: every movement that changed an order, found by the order id (GET /orders/:orderId,
-- `potledger trace`). Partial: most movements change no order.
CREATE INDEX movements_order ON movements ((order_change->>'orderId')) WHERE order_change IS NOT NULL;
