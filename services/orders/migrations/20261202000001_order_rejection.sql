-- Why an order was rejected, as the error the products service gave
-- (`code`, `message`, `details` with the shortages), so a replay of the
-- request answers with the same structured error. NULL for other orders.
ALTER TABLE orders ADD COLUMN rejection jsonb;
