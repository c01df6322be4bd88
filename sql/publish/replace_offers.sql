-- A run for a date replaces that date's lists (re-runs and backfills are safe).
delete from offers
where as_of = cast($as_of as date);

insert into offers
select
    cast($as_of as date) as as_of,
    channel,
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
