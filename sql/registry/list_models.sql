-- Every registered model, newest first, with the gate's scores (this model's pooled score
-- and the best baseline's on the same windows; older rows kept 'candidate'/'best_baseline'),
-- and when an engineer promoted it over the gate's rejection (promote --force).
select
    version,
    kind,
    as_of,
    status,
    coalesce(pinned, false) as pinned,
    scores ->> 'metric' as metric,
    try_cast(coalesce(scores ->> 'score', scores ->> 'candidate') as double) as score,
    try_cast(coalesce(scores ->> 'baseline', scores ->> 'best_baseline') as double) as baseline,
    scores ->> 'reason' as reason,
    scores -> 'forced' ->> 'at' as forced_at
from model_versions
order by created_at desc, version desc;
