-- Every registered model, newest first, with the gate's scores.
select
    version,
    kind,
    as_of,
    status,
    coalesce(pinned, false) as pinned,
    scores ->> 'metric' as metric,
    try_cast(scores ->> 'candidate' as double) as score,
    try_cast(scores ->> 'best_baseline' as double) as baseline,
    scores ->> 'reason' as reason
from model_versions
order by created_at desc, version desc;
