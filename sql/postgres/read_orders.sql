-- Rows of orders written after the last load (watermark in ($after, $until]), every contract
-- column as text (the raw shape files give), numbered in watermark order (later wins).
select
    order_id::text as order_id,
    customer_id::text as customer_id,
    ordered_at::text as ordered_at,
    status::text as status,
    row_number() over (order by {{ watermark }}, order_id) as _row
from {{ schema }}.{{ table }}
where {{ watermark }} > $after::timestamptz and {{ watermark }} <= $until::timestamptz
order by _row;
