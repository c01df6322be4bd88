-- The model in charge: a version an engineer pinned, else the promoted version with the
-- latest as-of date (a backfill of an older date never takes over from a newer model).
select
    version,
    kind,
    as_of,
    path,
    metadata,
    scores,
    coalesce(pinned, false) as pinned
from model_versions
where status = 'promoted'
order by coalesce(pinned, false) desc, as_of desc, promoted_at desc, created_at desc
limit 1;
