select
    count(*) as rows_read,
    count(*) filter (where _reason is not null) as quarantined,
    count(distinct _file) as files
from {{ stg }};
