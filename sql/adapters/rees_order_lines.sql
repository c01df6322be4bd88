-- REES46 order lines: one line of quantity 1 per usable purchase event, numbered in time order.
with order_lines as (
    select
        customer_id || '-' || session_id as order_id,
        row_number() over (
            partition by customer_id, session_id order by happened_at, _file, _row
        ) as line_no,
        product_id,
        1 as quantity,
        price as unit_price
    from parsed
    where _reason is null and source_type = 'purchase'
)

select
    cast(order_id as varchar) as order_id,
    cast(line_no as integer) as line_no,
    cast(product_id as varchar) as product_id,
    cast(quantity as integer) as quantity,
    cast(unit_price as double) as unit_price
from order_lines
order by order_id, line_no;
