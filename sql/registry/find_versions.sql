-- Registered versions named $prefix or starting with it (an exact name first, then newest
-- first): `offers models promote` accepts any unique prefix of a version.
select version
from model_versions
where starts_with(version, $prefix)
order by version = $prefix desc, created_at desc, version desc;
