-- Customer-product pairs that must not be offered as of $as_of: anything the customer bought
-- (ever, before $as_of; returned goods included: they tried it), except consumables whose
-- repurchase interval (days) has passed since the last purchase.
with bought as (
    select
        orders.customer_id,
        order_lines.product_id,
        max(orders.ordered_at) as last_bought
    from orders
    inner join order_lines using (order_id)
    where orders.status = 'completed' and orders.ordered_at < cast($as_of as timestamp)
    group by orders.customer_id, order_lines.product_id
),

final as (
    select
        bought.customer_id,
        bought.product_id
    from bought
    inner join products using (product_id)
    where products.repurchase_interval_days is null
        or bought.last_bought
        > cast($as_of as timestamp) - to_days(products.repurchase_interval_days)
)

select * from final;
