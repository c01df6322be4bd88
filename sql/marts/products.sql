-- Products known as of $as_of: those with any browsing event or order line before it
-- (seen_products, sql/schema/macros.sql).
-- A product first seen on or after $as_of gets no index, so it cannot shape a model trained
-- as of $as_of (it could not be recommended by one anyway: nothing has interacted with it).
-- offerable: it may appear in a list (active and in stock). Stock and the active flag are the
-- latest snapshot loaded; the source has no history of them. With $use_stock = false
-- (evaluation of a past date) every known product is offerable, because today's stock would
-- leak the future into the past (see docs/architecture.md).
with final as (
    select
        products.product_id,
        products.category,
        not cast($use_stock as boolean) or (products.active and products.stock > 0) as offerable
    from products
    inner join seen_products($as_of) using (product_id)
)

select * from final
order by product_id;
