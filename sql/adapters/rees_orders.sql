-- REES46 orders: one completed order per customer and session with a usable purchase.
with orders as (
    select
        customer_id || '-' || session_id as order_id,
        customer_id,
        min(happened_at) as ordered_at,
        'completed' as status
    from parsed
    where _reason is null and source_type = 'purchase'
    group by customer_id, session_id
)

select
    cast(order_id as varchar) as order_id,
    cast(customer_id as varchar) as customer_id,
    cast(ordered_at as timestamp) as ordered_at,
    cast(status as varchar) as status
from orders
order by order_id;
