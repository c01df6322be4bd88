-- Record tonight's email as sent (a re-run of the same date replaces that date's rows).
delete from sent_offers
where channel = $channel and as_of = cast($as_of as date);

insert into sent_offers
select
    $channel as channel,
    customer_id,
    product_id,
    cast($as_of as date) as as_of,
    $run_id as run_id
from new_sends;
