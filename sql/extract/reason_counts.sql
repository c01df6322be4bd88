select
    _reason as reason,
    count(*) as rows
from {{ stg }}
where _reason is not null
group by _reason
order by rows desc, reason;
