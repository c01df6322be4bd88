insert into runs
select
    $run_id,
    cast($as_of as date),
    cast($started_at as timestamp),
    cast($finished_at as timestamp),
    $status,
    cast($summary as json);
