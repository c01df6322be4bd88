-- Products that may appear in any list: active and in stock (stock is the latest snapshot
-- loaded; the source has no stock history, see docs/architecture.md).
with final as (
    select
        product_id,
        category
    from products
    where active and stock > 0
)

select * from final;
