-- Rows of events written after the last load (watermark in ($after, $until]), every contract
-- column as text (the raw shape files give), numbered in watermark order (later wins).
select
    customer_id::text as customer_id,
    product_id::text as product_id,
    event_type::text as event_type,
    occurred_at::text as occurred_at,
    session_id::text as session_id,
    row_number() over (
        order by {{ watermark }}, occurred_at, customer_id, product_id, event_type, session_id
    ) as _row
from {{ schema }}.{{ table }}
where {{ watermark }} > $after::timestamptz and {{ watermark }} <= $until::timestamptz
order by _row;
