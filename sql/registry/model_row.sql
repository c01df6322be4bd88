select
    version,
    kind,
    status,
    path
from model_versions
where version = $version;
