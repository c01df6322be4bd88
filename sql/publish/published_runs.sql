-- What the database says is published: per as-of date in offers, the run that wrote it
-- (replace_offers rewrites a date's rows under one run id). The export links follow this.
select distinct
    as_of,
    run_id
from offers
order by as_of, run_id;
