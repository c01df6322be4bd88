-- Upsert clean customers rows: a later file's row wins; rows identical to what is stored are
-- left alone, so loading the same files twice writes nothing.
create or replace temp table changed_rows as
with clean as (
    select
        customer_id,
        email_consent,
        signup_date,
        country
    from {{ stg }}
    where _reason is null
    qualify row_number() over (partition by customer_id order by _file desc, _row desc) = 1
),

stored as (
    select
        customer_id,
        email_consent,
        signup_date,
        country
    from customers
),

final as (
    select * from clean
    except
    select * from stored
)

select * from final;

create or replace temp table merge_stats as
select
    count(*) as changed,
    count(*) filter (where exists (
        select 1 from customers as t where t.customer_id = c.customer_id
    )) as updated
from changed_rows as c;

delete from customers as t
using changed_rows as c
where t.customer_id = c.customer_id;

insert into customers
select
    *,
    $run_id
from changed_rows;

select * from merge_stats;
