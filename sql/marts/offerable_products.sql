-- Products that may appear in a list as of $as_of: known before it (see products.sql), active
-- and in stock. Stock and the active flag are the latest snapshot loaded; the source has no
-- history of them. With $use_stock = false (evaluation of a past date) they are not applied,
-- because today's stock would leak the future into the past (see docs/architecture.md).
with known as (
    select product_id
    from events
    where occurred_at < cast($as_of as timestamp)
    union
    select order_lines.product_id
    from order_lines
    inner join orders using (order_id)
    where orders.ordered_at < cast($as_of as timestamp)
),

final as (
    select distinct
        products.product_id,
        products.category
    from products
    inner join known using (product_id)
    where not cast($use_stock as boolean) or (products.active and products.stock > 0)
)

select * from final
order by product_id;
