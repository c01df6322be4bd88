-- Weighted implicit feedback per customer and product, seeing only history before $as_of
-- (exclusive) and no older than $lookback_days.
-- weight = sum over events of type weight * 0.5 ^ (age in days / $half_life_days);
-- a purchase (one completed order line) earns $w_purchase, scaled down by the share of the
-- customer's bought units of that product they returned; cancelled orders earn nothing.
with bounds as (
    select
        cast($as_of as timestamp) as as_of,
        cast($as_of as timestamp) - to_days(cast($lookback_days as integer)) as since
),

browsing as (
    select
        events.customer_id,
        events.product_id,
        events.occurred_at as at,
        case events.event_type
            when 'view' then cast($w_view as double)
            when 'add_to_cart' then cast($w_cart as double)
        end as credit
    from events, bounds
    where events.occurred_at >= bounds.since and events.occurred_at < bounds.as_of
),

order_rows as (
    select
        orders.customer_id,
        order_lines.product_id,
        orders.ordered_at as at,
        orders.status,
        order_lines.quantity
    from orders
    inner join order_lines using (order_id)
    cross join bounds
    where orders.ordered_at >= bounds.since and orders.ordered_at < bounds.as_of
),

kept as (
    select
        customer_id,
        product_id,
        greatest(
            0.0,
            1.0 - coalesce(sum(quantity) filter (where status = 'return'), 0)
            / sum(quantity) filter (where status = 'completed')
        ) as kept_share
    from order_rows
    group by customer_id, product_id
    having count(*) filter (where status = 'completed') > 0
),

purchases as (
    select
        order_rows.customer_id,
        order_rows.product_id,
        order_rows.at,
        cast($w_purchase as double) * kept.kept_share as credit
    from order_rows
    inner join kept using (customer_id, product_id)
    where order_rows.status = 'completed'
),

credited as (
    select * from browsing
    union all
    select * from purchases
),

final as (
    select
        credited.customer_id,
        credited.product_id,
        sum(
            credited.credit
            * pow(0.5, epoch(bounds.as_of - credited.at) / 86400.0 / $half_life_days)
        ) as weight,
        max(credited.at) as last_at
    from credited, bounds
    group by credited.customer_id, credited.product_id
    having weight > 0
)

select * from final;
