-- Only the contract's columns (and _file, _row) stay: an extra column in a shop's export is
-- never stored, not even in quarantine (it may hold personal data the job has no use for).
create or replace temp table {{ raw }} as
select columns(lambda c: list_contains($keep, lower(c)))
from {{ raw }};
