-- What the database says is published: per as-of date in offers, the run that wrote it
-- (replace_offers rewrites a date's rows under one run id). The export links follow this;
-- runs whose export retention deleted (pruned_exports) keep their offers but no links.
select distinct
    as_of,
    run_id
from offers
where run_id not in (select run_id from pruned_exports)
order by as_of, run_id;
