-- Every registered model version as retention weighs it (models/retention.py): newest first.
select
    version,
    as_of,
    created_at,
    status,
    coalesce(pinned, false) as pinned
from model_versions
order by created_at desc, version desc;
