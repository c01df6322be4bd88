-- New products: offerable now (active, in stock) and nobody viewed, carted or bought them
-- before $as_of (seen_products, sql/schema/macros.sql). A collaborative model can never offer
-- them; discovery slots can.
with final as (
    select
        products.product_id,
        products.category,
        products.price
    from products
    anti join seen_products($as_of) using (product_id)
    where products.active and products.stock > 0
)

select * from final
order by product_id;
