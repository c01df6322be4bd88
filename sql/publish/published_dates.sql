-- As-of dates in a backfill's range that already have offer lists (the export is checked
-- separately: a date counts as published only when both are there).
select distinct as_of
from offers
where as_of between cast($start as date) and cast($end as date)
order by as_of;
