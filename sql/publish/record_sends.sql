-- Record tonight's email as sent (a re-run of the same date replaces that date's rows), read
-- from the export's Parquet file of the channel.
delete from sent_offers
where channel = $channel and as_of = cast($as_of as date);

insert into sent_offers
select
    $channel as channel,
    customer_id,
    product_id,
    cast($as_of as date) as as_of,
    $run_id as run_id
from read_parquet($path);
