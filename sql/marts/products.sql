-- Products known as of $as_of: those with any browsing event or order line before it.
-- A product first seen on or after $as_of gets no index, so it cannot shape a model trained
-- as of $as_of (it could not be recommended by one anyway: nothing has interacted with it).
-- offerable: it may appear in a list (active and in stock). Stock and the active flag are the
-- latest snapshot loaded; the source has no history of them. With $use_stock = false
-- (evaluation of a past date) every known product is offerable, because today's stock would
-- leak the future into the past (see docs/architecture.md).
with seen as (
    select distinct product_id
    from events
    where occurred_at < cast($as_of as timestamp)
    union
    select distinct order_lines.product_id
    from order_lines
    inner join orders using (order_id)
    where orders.ordered_at < cast($as_of as timestamp)
),

final as (
    select
        products.product_id,
        products.category,
        not cast($use_stock as boolean) or (products.active and products.stock > 0) as offerable
    from products
    inner join seen using (product_id)
)

select * from final
order by product_id;
