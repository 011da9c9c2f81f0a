-- Orders. An order is recorded PENDING before stock is asked for, so an
-- acknowledged order is never lost; the reconciler finishes PENDING ones.
CREATE TABLE orders (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL,
    status          text NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'REJECTED', 'CANCELLED', 'SHIPPED')),
    reason          text,
    total_cents     bigint NOT NULL DEFAULT 0 CHECK (total_cents >= 0),
    idempotency_key text NOT NULL,
    request_hash    text NOT NULL,
    -- What was asked for, so the reconciler can finish the order.
    requested       jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX orders_by_user ON orders (user_id, created_at DESC);
CREATE INDEX orders_pending ON orders (created_at) WHERE status = 'PENDING';

-- What was bought, at the price of the moment.
CREATE TABLE order_lines (
    order_id         uuid NOT NULL REFERENCES orders (id),
    product_id       bigint NOT NULL,
    name             text NOT NULL,
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_price_cents bigint NOT NULL CHECK (unit_price_cents >= 0),
    PRIMARY KEY (order_id, product_id)
);
