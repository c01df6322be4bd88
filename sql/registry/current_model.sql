-- The model in charge for as-of date $as_of: among promoted versions whose training data
-- ended before $as_of (their own as-of date is not later), a version an engineer pinned,
-- else the newest. A backfill therefore never sees a model trained on later data, and a
-- model trained for an older date never takes over from a newer one.
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
    status = 'promoted'
    and as_of <= cast($as_of as date)
order by coalesce(pinned, false) desc, as_of desc, promoted_at desc, created_at desc, version desc
limit 1;
