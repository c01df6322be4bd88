-- Online Retail orders: one per invoice with usable lines; "C..." invoices are returns.
with orders as (
    select
        invoice as order_id,
        min(customer_id) as customer_id,
        min(happened_at) as ordered_at,
        case when bool_or(is_cancellation) then 'return' else 'completed' end as status
    from parsed
    where _reason is null
    group by invoice
)

select
    cast(order_id as varchar) as order_id,
    cast(customer_id as varchar) as customer_id,
    cast(ordered_at as timestamp) as ordered_at,
    cast(status as varchar) as status
from orders
order by order_id;
