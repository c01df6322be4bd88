-- The model in charge: the most recently promoted one that was not rolled back.
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
order by promoted_at desc, created_at desc
limit 1;
