-- One row per customer known as of $as_of (signed up before it), from history strictly before
-- $as_of: the inputs of the customer segments (models/segments.py).
-- * first_order_at, last_order_at: their first and last completed order (all history).
-- * orders_365: distinct completed orders in the 365 days before $as_of.
-- * revenue_365: quantity * unit_price of those orders' lines, net of returns the way
--   interactions.sql nets them: per product, scaled by max(0, 1 - returned units / bought
--   units) within the same window (a return is matched by customer and product, not order id).
-- * last_visit_at: their latest browsing event of any type or order (completed or cancelled:
--   a return is not a visit), all history.
-- Cancelled orders are never orders here. Customers without orders: nulls, 0 and 0.0.
with bounds as (
    select
        cast($as_of as timestamp) as as_of,
        cast($as_of as timestamp) - to_days(cast(365 as integer)) as since
),

known as (
    select
        customers.customer_id,
        customers.signup_date
    from customers, bounds
    where customers.signup_date < cast(bounds.as_of as date)
),

completed as (
    select
        orders.customer_id,
        min(orders.ordered_at) as first_order_at,
        max(orders.ordered_at) as last_order_at,
        count(distinct orders.order_id) filter (where orders.ordered_at >= bounds.since)
            as orders_365
    from orders, bounds
    where orders.status = 'completed' and orders.ordered_at < bounds.as_of
    group by orders.customer_id
),

window_lines as (
    select
        orders.customer_id,
        order_lines.product_id,
        orders.status,
        order_lines.quantity,
        order_lines.unit_price
    from orders
    inner join order_lines using (order_id)
    cross join bounds
    where orders.ordered_at >= bounds.since and orders.ordered_at < bounds.as_of
        and orders.status in ('completed', 'return')
),

per_product as (
    select
        customer_id,
        product_id,
        sum(quantity * unit_price) filter (where status = 'completed') as gross,
        greatest(
            0.0,
            1.0 - coalesce(sum(quantity) filter (where status = 'return'), 0)
            / sum(quantity) filter (where status = 'completed')
        ) as kept_share
    from window_lines
    group by customer_id, product_id
    having count(*) filter (where status = 'completed') > 0
),

revenue as (
    select
        customer_id,
        sum(gross * kept_share) as revenue_365
    from per_product
    group by customer_id
),

visits as (
    select
        customer_id,
        max(visited_at) as last_visit_at
    from (
        select
            events.customer_id,
            events.occurred_at as visited_at
        from events, bounds
        where events.occurred_at < bounds.as_of
        union all
        select
            orders.customer_id,
            orders.ordered_at as visited_at
        from orders, bounds
        where orders.status <> 'return' and orders.ordered_at < bounds.as_of
    )
    group by customer_id
),

final as (
    select
        known.customer_id,
        known.signup_date,
        completed.first_order_at,
        completed.last_order_at,
        coalesce(completed.orders_365, 0) as orders_365,
        coalesce(revenue.revenue_365, 0.0) as revenue_365,
        visits.last_visit_at
    from known
    left join completed using (customer_id)
    left join revenue using (customer_id)
    left join visits using (customer_id)
)

select * from final
order by customer_id;
