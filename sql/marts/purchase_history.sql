-- What each customer bought before $as_of, per product (all history: repurchase habits need the
-- long view, and a product bought once stays "bought"): the number of distinct completed orders
-- holding it, the first and last of them, a decayed frequency (sum over those orders of
-- 0.5 ^ (age in days / $half_life_days)), whether the customer returned it before $as_of, and
-- the product's configured repurchase interval (an override of the learned one), if any.
with bought as (
    select
        orders.customer_id,
        order_lines.product_id,
        orders.order_id,
        min(orders.ordered_at) as bought_at
    from orders
    inner join order_lines using (order_id)
    where orders.status = 'completed' and orders.ordered_at < cast($as_of as timestamp)
    group by orders.customer_id, order_lines.product_id, orders.order_id
),

returned as (
    select distinct
        orders.customer_id,
        order_lines.product_id
    from orders
    inner join order_lines using (order_id)
    where orders.status = 'return' and orders.ordered_at < cast($as_of as timestamp)
),

per_pair as (
    select
        customer_id,
        product_id,
        count(*) as orders,
        min(bought_at) as first_at,
        max(bought_at) as last_at,
        sum(pow(0.5, epoch(cast($as_of as timestamp) - bought_at) / 86400.0 / $half_life_days))
            as frequency
    from bought
    group by customer_id, product_id
),

final as (
    select
        per_pair.customer_id,
        per_pair.product_id,
        per_pair.orders,
        per_pair.first_at,
        per_pair.last_at,
        per_pair.frequency,
        returned.customer_id is not null as returned,
        products.repurchase_interval_days as override_days
    from per_pair
    left join returned using (customer_id, product_id)
    left join products using (product_id)
)

select * from final
order by customer_id, product_id;
