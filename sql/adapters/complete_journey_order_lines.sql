-- Complete Journey order lines: one per usable row, numbered in file order within the basket;
-- unit price = sales_value / quantity (what the household paid per unit, after discounts).
with order_lines as (
    select
        basket_id as order_id,
        row_number() over (partition by basket_id order by _file, _row) as line_no,
        product_id,
        quantity,
        sales_value / quantity as unit_price
    from parsed
    where _reason is null
)

select
    cast(order_id as varchar) as order_id,
    cast(line_no as integer) as line_no,
    cast(product_id as varchar) as product_id,
    cast(quantity as integer) as quantity,
    cast(unit_price as double) as unit_price
from order_lines
order by order_id, line_no;
