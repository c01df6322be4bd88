-- Tmall order lines: one per brand bought by a user on a day, quantity = that day's buy rows
-- ($buy_code) for the brand, numbered by the brand's first buy row in the file; unit price
-- $price (the data has none).
with bought as (
    select
        customer_id,
        day,
        product_id,
        count(*) as quantity,
        min((_file, _row)) as first_row
    from parsed
    where _reason is null and type_code = $buy_code
    group by customer_id, day, product_id
),

order_lines as (
    select
        customer_id || '-' || strftime(day, '%Y-%m-%d') as order_id,
        row_number() over (partition by customer_id, day order by first_row) as line_no,
        product_id,
        quantity,
        $price as unit_price
    from bought
)

select
    cast(order_id as varchar) as order_id,
    cast(line_no as integer) as line_no,
    cast(product_id as varchar) as product_id,
    cast(quantity as integer) as quantity,
    cast(unit_price as double) as unit_price
from order_lines
order by order_id, line_no;
