-- When a cancellation of a CONFIRMED order was asked for. It is committed
-- before the stock is released, so a crash between the release and the
-- status change leaves a marked order that the reconciler finishes
-- (releases again, idempotently, then CANCELLED); a marked order cannot ship.
ALTER TABLE orders ADD COLUMN cancel_requested_at timestamptz;
CREATE INDEX orders_cancelling ON orders (cancel_requested_at)
    WHERE status = 'CONFIRMED' AND cancel_requested_at IS NOT NULL;
