-- The newest model of kind $kind trained for a date up to $as_of, whatever the gate made of it
-- (promoted or rejected; a pruned version has no files): what an incremental night refreshes
-- (flows/stages.py refresh_base), so nights are incremental whichever list the gate publishes.
select
    version,
    kind,
    as_of,
    path,
    metadata,
    scores,
    coalesce(pinned, false) as pinned
from model_versions
where
    kind = $kind
    and status <> 'pruned'
    and as_of <= cast($as_of as date)
order by as_of desc, created_at desc, version desc
limit 1;
