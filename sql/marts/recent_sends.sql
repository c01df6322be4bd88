-- (customer_id, product_id) sent on $channel in the $days days before $as_of: not sent again.
select distinct
    customer_id,
    product_id
from sent_offers
where
    channel = $channel
    and as_of < cast($as_of as date)
    and as_of >= cast($as_of as date) - to_days(cast($days as integer));
