-- Rows of customers written after the last load (watermark in ($after, $until]), every contract
-- column as text (the raw shape files give), numbered in watermark order (later wins).
select
    customer_id::text as customer_id,
    email_consent::text as email_consent,
    signup_date::text as signup_date,
    country::text as country,
    row_number() over (order by {{ watermark }}, customer_id) as _row
from {{ schema }}.{{ table }}
where {{ watermark }} > $after::timestamptz and {{ watermark }} <= $until::timestamptz
order by _row;
