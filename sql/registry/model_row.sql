-- One registered version: what promote checks (its files, and whether the gate rejected it).
select
    version,
    kind,
    status,
    path,
    scores ->> 'reason' as reason
from model_versions
where version = $version;
