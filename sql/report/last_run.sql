-- The last nightly run (succeeded or failed; not an erasure) of as-of date $as_of, or, with
-- $as_of NULL, the last nightly run of any date.
select
    run_id,
    as_of,
    status,
    summary
from runs
where
    status in ('succeeded', 'failed')
    and ($as_of is null or as_of = cast($as_of as date))
order by started_at desc, run_id desc
limit 1;
