-- Rows of products written after the last load (watermark in ($after, $until]), every contract
-- column as text (the raw shape files give), numbered in watermark order (later wins).
-- url and image_url may be absent from the table (added to the contract later): read by name
select
    src.product_id::text as product_id,
    src.title::text as title,
    src.category::text as category,
    src.price::text as price,
    src.stock::text as stock,
    src.active::text as active,
    src.repurchase_interval_days::text as repurchase_interval_days,
    to_jsonb(src) ->> 'url' as url,
    to_jsonb(src) ->> 'image_url' as image_url,
    row_number() over (order by src.{{ watermark }}, src.product_id) as _row
from {{ schema }}.{{ table }} as src
where src.{{ watermark }} > $after::timestamptz and src.{{ watermark }} <= $until::timestamptz
order by _row;
