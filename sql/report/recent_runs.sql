-- The newest $n runs (nightly runs, backfill dates, erasures), newest first.
select
    run_id,
    as_of,
    started_at,
    finished_at,
    status,
    summary
from runs
order by started_at desc, run_id desc
limit cast($n as integer);
