-- Complete Journey orders: one completed order per basket with a usable row, at the basket's
-- first transaction time (a basket has one time in the data).
with orders as (
    select
        basket_id as order_id,
        min(customer_id) as customer_id,
        min(happened_at) as ordered_at,
        'completed' as status
    from parsed
    where _reason is null
    group by basket_id
)

select
    cast(order_id as varchar) as order_id,
    cast(customer_id as varchar) as customer_id,
    cast(ordered_at as timestamp) as ordered_at,
    cast(status as varchar) as status
from orders
order by order_id;
