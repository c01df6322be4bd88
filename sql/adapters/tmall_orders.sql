-- Tmall orders: one completed order per user and day with a usable buy ($buy_code), id
-- "<user_id>-<YYYY-MM-DD>", at 00:00 UTC of that day.
with orders as (
    select
        customer_id || '-' || strftime(day, '%Y-%m-%d') as order_id,
        customer_id,
        cast(day as timestamp) as ordered_at,
        'completed' as status
    from parsed
    where _reason is null and type_code = $buy_code
    group by customer_id, day
)

select
    cast(order_id as varchar) as order_id,
    cast(customer_id as varchar) as customer_id,
    cast(ordered_at as timestamp) as ordered_at,
    cast(status as varchar) as status
from orders
order by order_id;
