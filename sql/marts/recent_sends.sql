-- (customer_id, product_id) e-mailed on any of $channels in the $days days before $as_of:
-- not e-mailed again.
select distinct
    customer_id,
    product_id
from sent_offers
where
    list_contains($channels, channel)
    and as_of < cast($as_of as date)
    and as_of >= cast($as_of as date) - to_days(cast($days as integer));
