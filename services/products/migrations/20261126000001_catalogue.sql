-- The catalogue. Prices are integer cents; stock can never go below zero.
CREATE TABLE categories (
    slug text PRIMARY KEY CHECK (slug ~ '^[a-z0-9-]{1,50}$'),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100)
);

CREATE TABLE products (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku         text NOT NULL UNIQUE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    category    text NOT NULL REFERENCES categories (slug),
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    stock       integer NOT NULL CHECK (stock >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_category ON products (category, id);

-- One row per order that ever asked for stock: `reserved`, or `released`
-- (also written when a release arrives first, so a late reserve is refused).
CREATE TABLE reservations (
    order_id   uuid PRIMARY KEY,
    state      text NOT NULL CHECK (state IN ('reserved', 'released')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- What each reservation took. No foreign key to products: a product may be
-- deleted while orders that bought it remain.
CREATE TABLE reservation_lines (
    order_id         uuid NOT NULL REFERENCES reservations (order_id),
    product_id       bigint NOT NULL,
    quantity         integer NOT NULL CHECK (quantity > 0),
    name             text NOT NULL,
    unit_price_cents bigint NOT NULL CHECK (unit_price_cents >= 0),
    PRIMARY KEY (order_id, product_id)
);
