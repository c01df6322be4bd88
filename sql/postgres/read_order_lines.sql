-- Rows of order_lines written after the last load (watermark in ($after, $until]), every contract
-- column as text (the raw shape files give), numbered in watermark order (later wins).
select
    order_id::text as order_id,
    line_no::text as line_no,
    product_id::text as product_id,
    quantity::text as quantity,
    unit_price::text as unit_price,
    row_number() over (order by {{ watermark }}, order_id, line_no) as _row
from {{ schema }}.{{ table }}
where {{ watermark }} > $after::timestamptz and {{ watermark }} <= $until::timestamptz
order by _row;
