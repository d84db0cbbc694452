-- name: insert_brand
INSERT INTO brands (brand_id, display_name, created_by)
VALUES (%(brand_id)s, %(display_name)s, %(created_by)s)
ON CONFLICT (brand_id) DO NOTHING
RETURNING brand_id, display_name, created_by, created_at;

-- name: get_brand
SELECT brand_id, display_name, created_by, created_at
FROM brands
WHERE brand_id = %(brand_id)s;
