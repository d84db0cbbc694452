-- Brands: the tenant of every other row. A brand id is a lower-case slug chosen at creation.
CREATE TABLE brands (
    brand_id     text PRIMARY KEY CHECK (brand_id ~ '^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$'),
    display_name text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 200),
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
