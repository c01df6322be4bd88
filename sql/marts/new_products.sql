-- New products: offerable now (active, in stock) and nobody viewed, carted or bought them
-- before $as_of. A collaborative model can never offer them; discovery slots can.
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
        products.price
    from products
    anti join seen using (product_id)
    where products.active and products.stock > 0
)

select * from final
order by product_id;
