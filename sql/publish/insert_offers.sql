-- One block of one channel's lists (registered as new_offers) into offers.
insert into offers
select
    cast($as_of as date) as as_of,
    $channel as channel,
    customer_id,
    rank,
    product_id,
    score,
    source,
    $run_id as run_id,
    $model_version as model_version,
    reason,
    anchor_id,
    reason_text,
    segment
from new_offers;
