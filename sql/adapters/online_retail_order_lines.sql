-- Online Retail order lines: every usable invoice line in file order, quantities made positive.
with order_lines as (
    select
        invoice as order_id,
        row_number() over (partition by invoice order by _file, _row) as line_no,
        stock_code as product_id,
        abs(quantity) as quantity,
        price as unit_price
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
