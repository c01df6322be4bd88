-- One channel's lists into offers, read from the export's Parquet file of that channel.
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
from read_parquet($path);
